"""trainer: the cloud side (data, training, int8 quantization, validation, bundles, monitoring)."""
