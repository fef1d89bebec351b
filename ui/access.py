"""The Train page's guard for a shared deployment: ``$SER_ADMIN_TOKEN`` (see ser_core.sandbox).

With no token configured everything is allowed. With one, submitting and cancelling jobs
need it, entered once per browser session (kept in the session state, never in the URL)."""

from __future__ import annotations

import streamlit as st

from ser_core.sandbox import token_matches, token_required

_KEY = "_admin_token"


def admin_token() -> str | None:
    """The token this session entered (asks for it when one is configured and not yet given)."""
    if not token_required():
        return None
    if token_matches(st.session_state.get(_KEY)):
        st.caption(":material/lock_open: Admin token accepted for this session.")
        return st.session_state[_KEY]
    with st.container(border=True):
        st.markdown(":material/lock: This server guards training jobs with an admin token "
                    "(`SER_ADMIN_TOKEN`). Enter it to submit or cancel jobs.")
        given = st.text_input("Admin token", type="password", key="_admin_token_input")
        if given:
            if token_matches(given):
                st.session_state[_KEY] = given
                st.rerun()
            st.error("That is not the admin token.", icon=":material/error:")
    return st.session_state.get(_KEY)
