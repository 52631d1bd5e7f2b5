"""The LMDB store: the only package that imports lmdb."""

from fastaw.storage.env import Env
from fastaw.storage.mutations import Writes
from fastaw.storage.reader import Reader
from fastaw.storage.writer import Writer

__all__ = ["Env", "Reader", "Writer", "Writes"]
