"""Config failures as ``ConfigError``: pydantic's ``ValidationError`` translated; errors located at a path.

Owns the one rule every config failure follows: the message starts with the dotted path of the bad field
(``pools.chat.retry.max_attempts: must be ≥ 1``), and no input value is ever echoed, because inputs
may be secrets. Unknown fields become ``UnknownNameError`` with the valid names for "Did you mean".

Deliberately not here: the schema itself and the checks that raise (``modelmesh.config``), and file
parsing errors (``modelmesh.config.loading``). The root model is passed in, so this module never imports
the schema and the schema can import it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from modelmesh.errors import ConfigError, UnknownNameError

_MESSAGES = {
    "missing": "required",
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "must be an integer"),
    **dict.fromkeys(("float_type", "float_parsing"), "must be a number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "must be true or false"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "must be a mapping"),
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be ≤ {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
}


def at_path(exc: ConfigError, path: str) -> ConfigError:
    """``exc`` located at ``path`` (unless it already names one)."""
    if exc.path or not path:
        return exc
    if isinstance(exc, UnknownNameError):
        return UnknownNameError(exc.kind, exc.name, exc.valid, path=path)
    return ConfigError(str(exc), path=path)


def combine(errors: list[ConfigError]) -> ConfigError:
    """One error for several, so that one load reports every problem."""
    return errors[0] if len(errors) == 1 else ConfigError("\n".join(map(str, errors)))


def translate(exc: ValidationError, root: type[BaseModel]) -> ConfigError:
    """One ``ConfigError`` for a pydantic error raised while validating ``root``, echoing no input value."""
    errors: list[ConfigError] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):
            errors.append(at_path(cause, path))
            continue
        if error["type"] == "extra_forbidden":
            valid = _fields_at(root, loc[:-1])
            errors.append(UnknownNameError("field", str(loc[-1]), valid, path=path or None))
            continue
        template = _MESSAGES.get(error["type"])
        ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in (error.get("ctx") or {}).items()}
        message = template.format(**ctx) if template else error["msg"]
        message = message.removeprefix("Value error, ")
        errors.append(ConfigError(message[:1].lower() + message[1:], path=path or None))
    return combine(errors)


def _fields_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the config model found at ``loc`` under ``root`` (for "Did you mean")."""
    model: Any = root
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            model = field.annotation if field else None
        else:
            args = [a for a in getattr(model, "__args__", ()) if a is not type(None)]
            model = args[-1] if args else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []
