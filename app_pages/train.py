"""Train: submit training, cross-validation and fine-tuning jobs; watch them; cancel them."""

import time

import streamlit as st

from ser_core.data import list_corpora, list_label_sets
from ser_core.data import PROTOCOLS
from ser_core.errors import SerError
from ser_core.jobs import api as jobs
from ser_core.models import list_models
from ser_core.sandbox import require_token
from ui import figures
from ui import train_form as TF
from ui.access import admin_token
from ui.state import service
from ui.widgets import default_corpus_root

st.title("Train and fine-tune")
st.caption("Jobs run in a separate worker process (the same `python -m ser_core ...` command "
           "you could type), so they keep going when you close the page. Finished checkpoints "
           "appear in Classify, Explain and Compare.")

if notice := st.session_state.pop("_jobs_notice", None):
    st.error(notice, icon=":material/error:")
token = admin_token()
data_root = default_corpus_root()
svc = service()
ckpts = {m.name: str(m.path) for m in svc.models}
corpus_names = [c for c in list_corpora() if c != "generic"] + ["generic"]
with st.container(border=True):
    job_type = st.radio("Job", list(TF.JOB_TYPES), horizontal=True, key="t_type")
    kind = TF.JOB_TYPES[job_type]
    c1, c2, c3 = st.columns(3)
    model, checkpoint = "", ""
    if kind == "finetune":
        checkpoint = c1.selectbox("Checkpoint to fine-tune", list(ckpts) or ["(none installed)"],
                                  key="t_ckpt")
    else:
        models = list_models()
        model = c1.selectbox("Model", models, key="t_model",
                             index=models.index("glam") if "glam" in models else 0)
    corpora = c2.multiselect("Corpora" + (" (train and test)" if kind == "train" else ""),
                             corpus_names, default=["emodb"], key="t_corpora")
    labels = c3.selectbox("Label set", list_label_sets() + ["native"], key="t_labels",
                          help="ekman7 maps every corpus to Ekman's 7 classes; native keeps a "
                               "single corpus' own labels.")
    d1, d2, d3, d4 = st.columns(4)
    protocol, folds, test_corpora = "cross-corpus", 0, []
    if kind == "train":
        test_corpora = d1.multiselect("Test on", corpora, default=corpora[-1:], key="t_test",
                                      help="Train on the other corpora, test on these.")
    else:
        protocols = [p for p in PROTOCOLS if p != "cross-corpus"]
        protocol = d1.selectbox("Protocol", protocols, key="t_protocol",
                                index=protocols.index("speaker-kfold") if "speaker-kfold" in protocols else 0,
                                help="Speaker-independent unless it says speaker-dependent.")
        if protocol in ("speaker-kfold", "speaker-dependent-random"):
            folds = d2.number_input("Folds", 2, 20, 5, key="t_folds")
    epochs = d3.number_input("Epochs (0 = recipe default)", 0, 500, 0, key="t_epochs")
    max_speakers = d4.number_input("Speakers per corpus (0 = all)", 0, 100, 0, key="t_spk",
                                   help="A small subset runs in minutes on a CPU.")
    e1, e2, e3 = st.columns(3)
    unfreeze, new_head = None, False
    if kind == "finetune":
        unfreeze = e1.slider("Layer groups to unfreeze (the last k)", 1, 3, 1, key="t_unfreeze",
                             help="Seed 000 fine-tunes the last 1, 2 or 3 layers.")
        new_head = e2.checkbox("New classifier head", key="t_newhead",
                               help="Needed when the label set differs from the checkpoint's.")
    device = e3.selectbox("Device", ["auto", "cpu", "cuda"], key="t_device")
    with st.expander("Input and augmentation (defaults: as the shipped checkpoints were trained)"):
        i1, i2, i3 = st.columns(3)
        vad_trim = i1.checkbox("Speech only", value=True, key="t_vad",
                               help="Cut every clip to its speech with voice activity detection, "
                                    "as Classify, Live and predict do.")
        augment_room = i2.checkbox("Room and microphone augmentation", key="t_room",
                                   help="Noise, reverberation, gain and band limits on training "
                                        "clips. Features are then computed afresh for every batch, "
                                        "so an epoch takes several times longer on a CPU.")
        spec_mask = i3.slider("SpecAugment masks (share of each axis)", 0.0, 0.3, 0.0, 0.05,
                              key="t_specmask",
                              help="Two frequency and two time masks per training example, each "
                                   "up to this share of the axis; 0 = off. Off in every shipped "
                                   "recipe: 0.15 made glam worse on a corpus it never heard "
                                   "(README, leave-one-corpus-out).")
        balance_corpora = i1.checkbox("Balance the corpora within each class", key="t_balance",
                                      help="Draw training segments so that every class weighs "
                                           "the same and, within a class, every corpus that has "
                                           "it the same: the largest corpus (CREMA-D) does not "
                                           "set what each class sounds like. Measured under "
                                           "leave-one-corpus-out in the README.")
        lowpass = gain_normalize = center_time = False
        if kind != "finetune":
            lowpass = i1.checkbox(f"Band-limit to {TF.LOWPASS_HZ / 1000:g} kHz", value=True, key="t_lowpass",
                                  help="RAVDESS and Emo-DB here have nothing above 5.5 kHz; a "
                                       "microphone has. The filter makes both look alike.")
            gain_normalize = i2.checkbox("Normalise the level", value=True, key="t_gain",
                                         help="Every segment at the same level, so that a loud "
                                              "corpus or microphone is not a cue.")
            center_time = i3.checkbox("Centre each segment's features", key="t_center",
                                      help="Subtract every feature bin's mean over the segment "
                                           "(per-utterance mean normalisation): removes a steady "
                                           "microphone or room colouring. It helped glam and "
                                           "squirtlenet_small on corpora they never heard.")
        else:
            i1.caption("A fine-tuned checkpoint keeps the feature settings it was trained with.")
    roots = {}
    cols = st.columns(max(1, len(corpora)))
    for col, c in zip(cols, corpora):
        roots[c] = col.text_input(f"{c} folder", value=TF.default_root(data_root, c), key=f"t_root_{c}")
    submitted = st.button("Submit job", type="primary", icon=":material/play_arrow:", key="t_submit")

if submitted:
    req = TF.TrainRequest(job_type=job_type, corpora=corpora, roots=[roots.get(c, "") for c in corpora],
                          labels=labels, model=model, checkpoint=ckpts.get(checkpoint, ""),
                          protocol=protocol, folds=int(folds), epochs=int(epochs) or None,
                          max_speakers=int(max_speakers) or None, device=device,
                          unfreeze_last=unfreeze, new_head=new_head, test_corpora=test_corpora,
                          vad_trim=vad_trim, lowpass=lowpass, gain_normalize=gain_normalize,
                          center_time=center_time, augment_room=augment_room, spec_mask=spec_mask,
                          balance_corpora=balance_corpora)
    if not corpora:
        st.error("Choose at least one corpus.")
    elif not all(req.roots):
        st.error("Give the folder of every corpus (under “Corpus folders”).")
    elif req.kind() == "finetune" and not req.checkpoint:
        st.error("There is no checkpoint to fine-tune yet: train one first.")
    else:
        try:
            require_token(token, "submit a job")
            job = jobs.submit(req.job(), restrict_paths=True)
            st.session_state["t_job"] = job.id
            st.success(f"Job {job.id} queued: `python -m ser_core {' '.join(job.command)}`",
                       icon=":material/check_circle:")
        except SerError as exc:
            st.error(str(exc), icon=":material/error:")

st.header("Jobs", divider="gray")


@st.fragment(run_every=2.0)
def monitor() -> None:
    """The job table and the chosen job; a jobs-store problem (locked, damaged) is a sentence."""
    try:
        _monitor()
    except SerError as exc:
        st.error(str(exc), icon=":material/error:")


def _resume(job_id: int) -> None:
    """The Resume button's callback (it runs before the rerun, so it may select the new job)."""
    try:
        require_token(st.session_state.get("_admin_token"), "resume a job")
        new = jobs.resume(job_id, restrict_paths=True)
    except SerError as exc:
        st.session_state["t_resumed"] = ("error", str(exc))
        return
    st.session_state["t_job"] = st.session_state["t_watch"] = new.id
    st.session_state["t_resumed"] = ("ok", f"Job {new.id} queued: it resumes job {job_id} "
                                           f"(`python -m ser_core {' '.join(new.command)}`).")


def _monitor() -> None:
    all_jobs = jobs.list_jobs(limit=30)
    if not all_jobs:
        st.info("No jobs yet. Submit one above.", icon=":material/inbox:")
        return
    st.dataframe([{"id": j.id, "kind": j.kind, "status": j.status,
                   "progress": float(j.progress.get("fraction") or (1.0 if j.status == "succeeded" else 0.0)),
                   "model": j.progress.get("model") or "", "fold": j.progress.get("fold"),
                   "epoch": j.progress.get("epoch"),
                   "elapsed": time.strftime("%H:%M:%S", time.gmtime(j.elapsed_s or 0)),
                   "command": " ".join(j.command)} for j in all_jobs],
                 hide_index=True, width="stretch",
                 column_config={"id": st.column_config.NumberColumn(width="small"),
                                "status": st.column_config.TextColumn(width="small"),
                                "progress": st.column_config.ProgressColumn(format="percent", min_value=0.0,
                                                                            max_value=1.0, width="small"),
                                "command": st.column_config.TextColumn(width="large")})
    ids = [j.id for j in all_jobs]
    default = st.session_state.get("t_job", ids[0])
    jid = st.selectbox("Job", ids, index=ids.index(default) if default in ids else 0, key="t_watch")
    job = next(j for j in all_jobs if j.id == jid)
    frac = float(job.progress.get("fraction") or (1.0 if job.status == "succeeded" else 0.0))
    eta = job.progress.get("eta_s")
    st.progress(min(max(frac, 0.0), 1.0),
                text=f"Job {job.id} · {job.status} · {frac:.0%}" + (f" · about {eta / 60:.0f} min left"
                                                                  if eta and not job.finished else ""))
    if job.exit_reason and job.finished:
        (st.success if job.status == "succeeded" else st.warning)(job.exit_reason)
    if not job.finished and st.button("Cancel this job", key=f"t_cancel_{job.id}", icon=":material/stop:"):
        try:
            require_token(st.session_state.get("_admin_token"), "cancel a job")
            with st.spinner("Stopping the job's processes…"):
                job = jobs.cancel(job.id)
            st.toast(f"Job {job.id}: {job.status}")
        except SerError as exc:
            st.error(str(exc), icon=":material/error:")
    if job.status in ("failed", "cancelled"):
        st.button("Resume this job", key=f"t_resume_{job.id}", icon=":material/replay:",
                  on_click=_resume, args=(job.id,),
                  help="Queue the same command into the same output folder: a training run "
                       "continues after its last completed epoch (finished folds are kept).")
    if said := st.session_state.pop("t_resumed", None):
        (st.error if said[0] == "error" else st.success)(said[1])
    records = jobs.progress_history(job.id)
    cur = TF.curves(records)
    charts = [(cur["steps"], "training loss within epochs (running mean)", "loss", "t_steps"),
              (cur["loss"], "loss per epoch", "cross-entropy", "t_loss"),
              (cur["ua"], "validation UA per epoch", "UA %", "t_ua")]
    charts = [c for c in charts if c[0]]
    for col, (series, title, yaxis, key) in zip(st.columns(max(1, len(charts))), charts):
        col.plotly_chart(figures.curves(series, title=title, xaxis="epoch", yaxis=yaxis, height=260),
                         config={"displayModeBar": False}, key=f"{key}_{job.id}")
    folds_done = TF.fold_results(records)
    if folds_done:
        st.dataframe(folds_done, hide_index=True)
    with st.expander("Log", expanded=job.status == "failed"):
        st.code(jobs.read_log(job.id, tail_bytes=6000) or "(empty)", language=None)
    if job.checkpoint:
        st.caption(f"Checkpoint: `{job.checkpoint}`" + (" · now listed in Classify and Compare"
                                                         if job.status == "succeeded" else ""))


monitor()
