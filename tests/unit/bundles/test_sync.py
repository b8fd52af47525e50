"""Bundle sync: staging, fingerprints, incremental fetches, atomic switch, stale fallback."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from aetherflow.bundles.fingerprint import fingerprint, signature
from aetherflow.bundles.manifest import LoadedManifest, load_manifest
from aetherflow.bundles.sources import FilesystemSource, RemoteFile, check_rel_path
from aetherflow.bundles.status import bundle_status
from aetherflow.bundles.store import BundleStore
from aetherflow.bundles.sync import sync_bundle
from aetherflow.errors import BundleError, SpecError

from .conftest import write_manifest


class ListingSource:
    """A source serving a fixed listing from a dict (for hostile or failing sources)."""

    def __init__(self, files: dict[str, bytes], *, fail: str | None = None) -> None:
        self.files = files
        self.fail = fail
        self.reads: list[str] = []

    def list_files(self) -> list[RemoteFile]:
        if self.fail:
            raise ConnectionError(self.fail)
        return [RemoteFile(rel, size=len(data), mtime=1.0) for rel, data in self.files.items()]

    def read_bytes(self, rel_path: str) -> bytes:
        self.reads.append(rel_path)
        return self.files[rel_path]


def test_first_sync_stages_every_file(manifest: LoadedManifest, tmp_path: Path) -> None:
    result = sync_bundle(manifest, tmp_path / "work")
    root = Path(result.local_root)
    assert result.changed
    assert sorted(result.fetched_files) == ["flows/main.yaml", "plugins/steps.py", "profiles.yaml"]
    assert (root / "flows" / "main.yaml").read_text() == "flow: {id: demo}\njobs: []\n"
    assert Path(result.active_dir).resolve() == root
    assert root.parent == tmp_path / "work" / "bundles" / "demo" / "versions"


def test_unchanged_source_fetches_nothing(manifest: LoadedManifest, tmp_path: Path) -> None:
    first = sync_bundle(manifest, tmp_path / "work")
    second = sync_bundle(manifest, tmp_path / "work")
    assert not second.changed
    assert second.fetched_files == []
    assert second.fingerprint == first.fingerprint
    assert second.local_root == first.local_root


def test_one_modified_file_is_the_only_fetch(
    manifest: LoadedManifest, source_dir: Path, tmp_path: Path
) -> None:
    first = sync_bundle(manifest, tmp_path / "work")
    target = source_dir / "plugins" / "steps.py"
    target.write_text("VALUE = 2\n")
    os.utime(target, (1_700_000_000, 1_700_000_000))
    second = sync_bundle(manifest, tmp_path / "work")
    assert second.changed
    assert second.fetched_files == ["plugins/steps.py"]
    assert second.fingerprint != first.fingerprint
    assert (Path(second.local_root) / "plugins" / "steps.py").read_text() == "VALUE = 2\n"
    # the previous tree is kept for runs still using it
    assert (Path(first.local_root) / "plugins" / "steps.py").read_text() == "VALUE = 1\n"


def test_only_the_active_and_previous_versions_are_kept(
    manifest: LoadedManifest, source_dir: Path, tmp_path: Path
) -> None:
    roots = []
    for value in range(4):
        (source_dir / "flows" / "extra.yaml").write_text(f"# {value}\n")
        roots.append(sync_bundle(manifest, tmp_path / "work").local_root)
    versions = {p.resolve() for p in (tmp_path / "work/bundles/demo/versions").iterdir()}
    assert versions == {Path(roots[-1]), Path(roots[-2])}


def test_local_edit_of_the_active_copy_is_undone(manifest: LoadedManifest, tmp_path: Path) -> None:
    first = sync_bundle(manifest, tmp_path / "work")
    edited = Path(first.local_root) / "flows" / "main.yaml"
    edited.unlink()
    edited.write_text("tampered\n")
    second = sync_bundle(manifest, tmp_path / "work")
    assert second.changed
    assert (Path(second.local_root) / "flows" / "main.yaml").read_text().startswith("flow:")
    assert second.fingerprint == first.fingerprint


def test_fetch_policy_always_restages(source_dir: Path, tmp_path: Path) -> None:
    loaded = load_manifest(write_manifest(tmp_path, policy="always"))
    first = sync_bundle(loaded, tmp_path / "work")
    second = sync_bundle(loaded, tmp_path / "work")
    assert second.changed
    assert second.local_root != first.local_root
    assert second.fetched_files == []  # blobs reused from the cache


def test_strict_fingerprint_hashes_content(source_dir: Path, tmp_path: Path) -> None:
    loaded = load_manifest(write_manifest(tmp_path, strict=True))
    first = sync_bundle(loaded, tmp_path / "work")
    target = source_dir / "profiles.yaml"
    stat = target.stat()
    target.write_text("{ }\n")  # same size, same mtime: only content hashing sees it
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = sync_bundle(loaded, tmp_path / "work")
    assert second.fingerprint != first.fingerprint
    assert (Path(second.local_root) / "profiles.yaml").read_text() == "{ }\n"


def test_fingerprint_matches_the_predecessor_rule() -> None:
    files = [RemoteFile("b.txt", size=3, mtime=1.5), RemoteFile("a.txt", sha256="ab" * 32)]
    assert signature(files[0]) == "sz:3|mt_ms:1500"
    assert signature(files[1]) == "sha256:" + "ab" * 32
    # sha256 of the compact JSON list of [rel_path, signature] pairs sorted by path
    compact = '[["a.txt","sha256:' + "ab" * 32 + '"],["b.txt","sz:3|mt_ms:1500"]]'
    assert fingerprint(files) == hashlib.sha256(compact.encode()).hexdigest()
    assert fingerprint(list(reversed(files))) == fingerprint(files)


@pytest.mark.parametrize(
    "rel", ["../escape.txt", "/etc/passwd", "a/../../b", "a\\b", "./a", "", "a/./b"]
)
def test_unsafe_listed_paths_are_refused(rel: str) -> None:
    with pytest.raises(BundleError, match="unsafe path"):
        check_rel_path(rel)


def test_hostile_listing_writes_nothing_outside(manifest: LoadedManifest, tmp_path: Path) -> None:
    source = ListingSource({"flows/main.yaml": b"x", "profiles.yaml": b"{}", "../../evil": b"!"})
    with pytest.raises(BundleError, match=r"unsafe path '\.\./\.\./evil'"):
        sync_bundle(manifest, tmp_path / "work", source=source)
    assert not (tmp_path / "work" / "bundles" / "evil").exists()
    assert not list(tmp_path.rglob("evil"))
    assert source.reads == []


def test_missing_entry_flow_fails_and_keeps_the_active_copy(
    manifest: LoadedManifest, source_dir: Path, tmp_path: Path
) -> None:
    first = sync_bundle(manifest, tmp_path / "work")
    (source_dir / "flows" / "main.yaml").unlink()
    with pytest.raises(BundleError, match=r"'flows/main\.yaml' .* is not in the bundle source"):
        sync_bundle(manifest, tmp_path / "work")
    store = BundleStore.for_bundle(tmp_path / "work", "demo")
    assert store.active_tree() == Path(first.local_root)
    assert list(store.staged.iterdir()) == []
    error = json.loads(store.last_error_file.read_text())
    assert "flows/main.yaml" in error["error"]
    assert error["old_fingerprint"] == first.fingerprint


def test_listing_failure_is_covered_by_allow_stale(
    manifest: LoadedManifest, tmp_path: Path
) -> None:
    first = sync_bundle(manifest, tmp_path / "work")
    told: list[str] = []
    stale = sync_bundle(
        manifest,
        tmp_path / "work",
        allow_stale=True,
        on_stale=told.append,
        source=ListingSource({}, fail="connection refused by 127.0.0.1:22"),
    )
    assert stale.stale
    assert stale.local_root == first.local_root
    assert stale.fingerprint == first.fingerprint
    assert told == ["ConnectionError: connection refused by 127.0.0.1:22"]


def test_listing_failure_without_allow_stale_raises(
    manifest: LoadedManifest, tmp_path: Path
) -> None:
    sync_bundle(manifest, tmp_path / "work")
    with pytest.raises(BundleError, match="sync failed: ConnectionError: down"):
        sync_bundle(manifest, tmp_path / "work", source=ListingSource({}, fail="down"))


def test_allow_stale_without_any_copy_still_fails(manifest: LoadedManifest, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="down"):
        sync_bundle(
            manifest, tmp_path / "work", allow_stale=True, source=ListingSource({}, fail="down")
        )


def test_missing_source_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        FilesystemSource(tmp_path / "nope").list_files()


def test_vcs_directories_and_symlinks_are_not_bundled(
    manifest: LoadedManifest, source_dir: Path, tmp_path: Path
) -> None:
    (source_dir / ".git").mkdir()
    (source_dir / ".git" / "HEAD").write_text("ref\n")
    (source_dir / "passwd").symlink_to("/etc/passwd")
    result = sync_bundle(manifest, tmp_path / "work")
    names = {p.name for p in Path(result.local_root).rglob("*")}
    assert ".git" not in names
    assert "passwd" not in names


def test_staging_leftovers_of_a_killed_sync_are_removed(
    manifest: LoadedManifest, tmp_path: Path
) -> None:
    store = BundleStore.for_bundle(tmp_path / "work", "demo")
    store.ensure()
    (store.staged / "bundle_dead").mkdir()
    sync_bundle(manifest, tmp_path / "work")
    assert list(store.staged.iterdir()) == []


def test_status_reads_only_local_files(manifest: LoadedManifest, tmp_path: Path) -> None:
    empty = bundle_status(manifest, tmp_path / "work")
    assert empty["has_active"] is False
    assert empty["fingerprint"] is None
    result = sync_bundle(manifest, tmp_path / "work")
    status = bundle_status(manifest, tmp_path / "work")
    assert status["has_active"] is True
    assert status["fingerprint"] == result.fingerprint
    assert status["local_root"] == result.local_root


def test_manifest_errors_have_positions(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text("version: 1\nbundle:\n  id: demo\n  sourze: {}\n")
    with pytest.raises(SpecError) as info:
        load_manifest(path)
    rendered = [issue.where() for issue in info.value.issues]
    assert any(where.startswith(f"{path}:4:") for where in rendered), rendered


def test_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"bundle manifest .*nope\.yaml does not exist"):
        load_manifest(tmp_path / "nope.yaml")


def test_other_source_types_are_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(
        "bundle:\n  id: demo\n  source: {type: git, url: https://example.invalid/x.git}\n"
        "  layout: {profiles_file: p.yaml}\n  entry_flow: f.yaml\n"
    )
    with pytest.raises(BundleError, match="source type 'git' is not available"):
        sync_bundle(load_manifest(path), tmp_path / "work")
