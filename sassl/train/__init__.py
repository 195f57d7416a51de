"""Self-supervised pretraining fed by feature banks, with SASSL applied online."""
