"""PyTorch trainer: streams the pipeline's token shards into a small GPT.

Modules are separate components (torchtitan's split): ``config`` (what to run), ``verify`` (refuse
data that does not match its manifest), ``data`` (memory-mapped batches), ``model`` (the GPT),
``schedule`` (learning rate), ``checkpoint``, ``metrics``; a run is built by ``prepare`` (data from
``train_data``, ``device``, the model, ``parallel`` for several ranks), started by ``resume``,
stepped by ``loop`` with ``evaluation``, and reported by ``summary``; ``train`` is its entry point
and command line.

Nothing is imported here so that ``python -m trainer.train --help`` stays fast.
"""
