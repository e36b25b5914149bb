"""core.storage: the local file store keeps bytes under tenant-prefixed keys and refuses keys that
would leave its directory."""
import pytest
from flask import Flask

from core.storage import LocalStorage, Storage, StorageError, files_dir, storage


def test_put_get_delete_under_the_tenants_prefix(tmp_path):
    store = LocalStorage(tmp_path)
    key = store.put(7, "workshop/photos", b"\x89PNG...", ext="png")
    assert key.startswith("7/workshop/photos/") and key.endswith(".png")
    assert Storage.tenant_of(key) == 7
    assert store.get(key) == b"\x89PNG..." and store.exists(key)
    assert (tmp_path / key).read_bytes() == b"\x89PNG..."
    other = store.put(7, "workshop/photos", b"x", ext="png")
    assert other != key  # random keys never collide in practice
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # deleting twice is fine
    with pytest.raises(StorageError):
        store.get(key)


@pytest.mark.parametrize("key", ["../etc/passwd", "7/../../x", "/7/a/b", "a/b/c", "7/area/..", "7/area/x y",
                                 "7//x", ""])
def test_bad_keys_are_refused(tmp_path, key):
    with pytest.raises(StorageError):
        LocalStorage(tmp_path).get(key)


@pytest.mark.parametrize("tenant_id,area,ext", [(0, "a", None), (None, "a", None), (1, "../a", None),
                                                (1, "A", None), (1, "a", "p/ng")])
def test_keys_need_a_tenant_and_a_clean_area(tmp_path, tenant_id, area, ext):
    with pytest.raises(StorageError):
        LocalStorage(tmp_path).put(tenant_id, area, b"x", ext=ext)


def test_the_directory_comes_from_the_config_or_the_instance(tmp_path):
    app = Flask(__name__)
    app.config["INSTANCE_PATH"] = str(tmp_path / "inst")
    assert files_dir(app) == tmp_path / "inst" / "files"
    app.config["GARAGE_FILES_DIR"] = str(tmp_path / "elsewhere")
    assert files_dir(app) == tmp_path / "elsewhere"
    store = storage(app)
    assert isinstance(store, LocalStorage) and storage(app) is store
    key = store.put(3, "x", b"abc")
    assert (tmp_path / "elsewhere" / key).read_bytes() == b"abc"
