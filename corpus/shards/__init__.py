"""Token shards: the format (the contract between the pipeline and the trainer), where a run is
split and cut into shards, and the tools that check, decode and inspect a run's shards.

- ``format``: ``.bin`` (llm.c's layout), ``.idx`` (Megatron's), writing and reading them.
- ``split``: which split each document goes to, in which order, and where shards are cut.
- ``check``: ``corpus shards verify``, every problem a run's shards can have.
- ``decode``: ``corpus shards decode``, one document back to text with its lineage.
- ``inspect``: ``corpus shards inspect``, what a run's shards hold.
"""
