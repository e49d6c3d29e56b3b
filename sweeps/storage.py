"""Where Tune keeps a sweep: a local folder or a URI (``s3://``, ``gs://``, ``file://``), read and
written through pyarrow's filesystems the way Tune itself resolves ``storage_path``
(``pyarrow.fs.FileSystem.from_uri``). The sweep's own files (its spec, its summary) live beside
Tune's state, wherever that is, and ``--resume`` finds them there."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs


def is_uri(path: str) -> bool:
    """True for ``scheme://...`` (s3, gs, file, ...); False for a local path."""
    return "://" in path


def join(base: str, *parts: str) -> str:
    """`base`/`parts`: a URI keeps its scheme (and its bucket), a local path stays a local path."""
    if is_uri(base):
        return "/".join([base.rstrip("/"), *parts])
    return str(Path(base, *parts))


def _fs(path: str) -> tuple[pyarrow.fs.FileSystem, str]:
    if not is_uri(path):
        path = str(Path(path).resolve())
    return pyarrow.fs.FileSystem.from_uri(path)


def exists(path: str) -> bool:
    """A file or folder is at `path`."""
    fs, p = _fs(path)
    return fs.get_file_info(p).type != pyarrow.fs.FileType.NotFound


def read_text(path: str) -> str:
    """The text of the file at `path` (FileNotFoundError if there is none)."""
    fs, p = _fs(path)
    if fs.get_file_info(p).type != pyarrow.fs.FileType.File:
        raise FileNotFoundError(path)
    with fs.open_input_stream(p) as f:
        return f.read().decode()


def write_text(path: str, text: str) -> None:
    """Write `text` to `path`, creating its folder."""
    fs, p = _fs(path)
    fs.create_dir(p.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(p) as f:
        f.write(text.encode())


def folders(path: str) -> list[tuple[str, float]]:
    """The folders right inside `path` (as paths or URIs like `path`) with their modification
    times (seconds since the epoch; 0 where the store keeps none)."""
    fs, p = _fs(path)
    if fs.get_file_info(p).type != pyarrow.fs.FileType.Directory:
        return []
    infos = fs.get_file_info(pyarrow.fs.FileSelector(p))
    return [(join(path, i.base_name), i.mtime.timestamp() if i.mtime else 0.0)
            for i in infos if i.type == pyarrow.fs.FileType.Directory]


def download(path: str, local_dir: Path) -> None:
    """Copy the folder at `path` into the local folder `local_dir`."""
    fs, p = _fs(path)
    local_dir.mkdir(parents=True, exist_ok=True)
    pyarrow.fs.copy_files(p, str(local_dir.resolve()), source_filesystem=fs,
                          destination_filesystem=pyarrow.fs.LocalFileSystem())


def upload(local_dir: Path, path: str) -> None:
    """Copy the local folder `local_dir` to `path` (a folder or URI)."""
    fs, p = _fs(path)
    fs.create_dir(p, recursive=True)
    pyarrow.fs.copy_files(str(local_dir.resolve()), p,
                          source_filesystem=pyarrow.fs.LocalFileSystem(), destination_filesystem=fs)
