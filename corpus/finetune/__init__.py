"""Data for training after pretraining: supervised fine-tuning records to shards with loss masks."""
