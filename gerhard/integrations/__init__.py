"""Framework integrations: a run of a training framework becomes a gerhard run by adding one object to it.

    gerhard.integrations.transformers.GerhardCallback   a HF Trainer TrainerCallback
    gerhard.integrations.lightning.GerhardLogger        a Lightning Logger
    run.log_lm_eval(results)                            lm-evaluation-harness results (on the capture Run itself)

Each module imports its framework at the top, so nothing here is imported by `import gerhard`: install the
extra (pip install 'gerhard[transformers]', 'gerhard[lightning]') and import the module you need.
"""
