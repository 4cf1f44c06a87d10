"""LoRAIro: dataset preparation for LoRA and fine-tuning."""

__version__ = "0.1.0"
