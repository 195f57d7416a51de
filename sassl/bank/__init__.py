"""The feature bank format: codecs, writer, reader, manifests, inspect/verify (docs/bank-format.md)."""

from sassl.bank.format import BankError, BankSettings
from sassl.bank.reader import BankInfo, check_stylizer, iter_bank_items, iter_bank_shard, load_style_bank, open_bank

__all__ = ["BankError", "BankInfo", "BankSettings", "check_stylizer", "iter_bank_items", "iter_bank_shard", "load_style_bank", "open_bank"]
