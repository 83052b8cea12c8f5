"""tdlib.provenance: the revision, the device and the record stored with every result."""

import re

from tdlib import provenance


def test_git_revision_is_the_checkout_or_the_named_revision(monkeypatch):
    provenance.git_revision.cache_clear()
    try:
        assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?", provenance.git_revision())  # this checkout
        provenance.git_revision.cache_clear()
        monkeypatch.setenv(provenance.REVISION_ENV, "0123456789ab")  # a copy without .git, as sent to a GPU
        assert provenance.git_revision() == "0123456789ab"
        assert provenance.record("paper", 1.0, "cpu")["git"] == "0123456789ab"
    finally:
        provenance.git_revision.cache_clear()
