"""ser_core: speech emotion recognition lab core (audio, features, models, data, training).

Layers (imports point down only)::

    inference, jobs        services used by the app and the CLI (cli sits above them and
                           is the only module that parses command lines; jobs never imports it)
    training               trainer, recipes, one fold runner for every protocol, metrics
    checkpoint             the contract between training and inference: file format, typed
                           CheckpointMeta, prepare_batch (features + stored normalisation);
                           inference reads checkpoints through it and never imports training
    models                 one file per architecture + registry
    data                   one file per corpus (data/corpora, found by the registry), label
                           sets, splits, feature cache
    features               pure-torch feature pipeline with intermediates
    audio                  decode, validate, mix down, resample
    errors, options        error family; the KEY=VALUE settings parser (standard library only)

Nothing in this package imports Streamlit.
"""

__version__ = "0.1.0"

DEFAULT_SAMPLE_RATE = 16_000
