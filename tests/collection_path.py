"""Make the repository importable as ansible_collections.cloudmeta.imds.

The repository root is the collection root; Ansible finds collections only
below a directory named ``ansible_collections/NS/NAME``. A symlink under
``.tmp/collections`` gives it that shape without copying anything.
"""
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, ".tmp", "collections")


def ensure_collection_link():
    """Create the symlink if needed and return the collections directory."""
    namespace_dir = os.path.join(COLLECTIONS_DIR, "ansible_collections", "cloudmeta")
    link = os.path.join(namespace_dir, "imds")
    os.makedirs(namespace_dir, exist_ok=True)
    if not os.path.islink(link):
        try:
            os.symlink(REPO_ROOT, link)
        except FileExistsError:  # another test process made it first
            pass
    return COLLECTIONS_DIR
