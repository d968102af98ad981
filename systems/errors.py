"""Errors raised for bad user input.

``InputError`` is a ``ValueError`` so that callers catching ``ValueError`` keep
working; its message always names the file, atom or parameter at fault.
"""


class InputError(ValueError):
    """Bad input: the message names the file, atom or parameter and the problem."""


class CloseContactError(InputError):
    """Two atoms are closer than a potential can handle (names both atoms)."""
