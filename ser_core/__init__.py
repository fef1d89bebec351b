"""ser_core: speech emotion recognition lab core (audio, features, models, data, training).

Layers (imports point down only)::

    inference, jobs        services used by the app and the CLI
    training               trainer, recipes, protocols, metrics
    models                 one file per architecture + registry
    data                   one file per corpus, label sets, splits, feature cache
    features               pure-torch feature pipeline with intermediates
    audio                  decode, validate, mix down, resample
    errors, checkpoint     error family; checkpoint format (safetensors + JSON)

Nothing in this package imports Streamlit.
"""

__version__ = "0.1.0"

DEFAULT_SAMPLE_RATE = 16_000
