"""Validation of the names callers choose: models, endpoints, aliases and artifact files."""

from __future__ import annotations

import re

from modelport.core import InvalidInput

__all__ = ["check_alias", "check_endpoint_name", "check_filename", "check_model_name"]

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_FILENAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")


def check_model_name(name: str) -> str:
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid model name {name!r}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_endpoint_name(name: str) -> str:
    """The model-name rule: clients call an endpoint by name exactly as they call a model."""
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid endpoint name {name!r}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_alias(alias: str) -> str:
    # Starting with a letter also keeps an alias from being all digits, so a URL's "{v}" is
    # unambiguously a version number or an alias.
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias.isdigit():
        raise InvalidInput(
            f"invalid alias {alias!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter"
        )
    return alias


def check_filename(filename: str) -> str:
    """A plain file name: no directories, no ``..``, nothing hidden."""
    if not isinstance(filename, str) or not _FILENAME.fullmatch(filename) or ".." in filename:
        raise InvalidInput(
            f"invalid artifact file name {filename!r}: use letters, digits, '_', '.', '+' or '-', "
            "with no '/' and no '..'"
        )
    return filename
