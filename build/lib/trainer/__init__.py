"""PyTorch trainer: streams the pipeline's token shards into a small GPT.

Modules are separate components (torchtitan's split): ``config`` (what to run), ``verify`` (refuse
data that does not match its manifest), ``data`` (memory-mapped batches), ``model`` (the GPT),
``schedule`` (learning rate), ``checkpoint``, ``metrics`` and ``train`` (the loop and the CLI).

Nothing is imported here so that ``python -m trainer.train --help`` stays fast.
"""
