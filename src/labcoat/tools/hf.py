"""Hugging Face Hub datasets: search, dataset info (splits, sizes, features) and prefetch for offline use."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from labcoat.tools.errors import ToolError

SORTS = ("downloads", "likes", "last_modified", "created_at", "trending_score")
MAX_LIMIT = 50
PREFETCH_MAX_BYTES = 2 * 1024**3


def _transport_errors() -> tuple[type[BaseException], ...]:
    # The Hub client's transport changed between releases (requests, httpx,
    # httpx2): catch whichever of them is installed.
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for module in ("httpx2", "httpx"):
        try:
            found.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    try:
        import requests

        found.append(requests.exceptions.RequestException)
    except ImportError:
        pass
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()


def summary(info: Any) -> dict:
    """The fields an agent needs to choose a dataset, from a DatasetInfo."""
    card = info.card_data.to_dict() if getattr(info, "card_data", None) is not None else {}
    description = getattr(info, "description", None) or card.get("pretty_name") or ""
    return {
        "id": info.id,
        "downloads": info.downloads,
        "likes": info.likes,
        "tags": list(info.tags or []),
        "description": " ".join(str(description).split())[:1000],
        "last_modified": info.last_modified.isoformat() if info.last_modified else None,
        "gated": info.gated,
        "private": info.private,
    }


def card_details(card: dict) -> dict:
    """Configs with splits (rows, bytes), features and sizes from a card's `dataset_info`."""
    raw = card.get("dataset_info")
    configs = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    out = []
    for cfg in configs:
        if not isinstance(cfg, dict):
            continue
        features = {}
        for feat in cfg.get("features") or []:
            if isinstance(feat, dict) and "name" in feat:
                dtype = feat.get("dtype", feat.get("sequence", feat.get("list", "?")))
                if isinstance(dtype, dict) and "class_label" in dtype:
                    names = dtype["class_label"].get("names", {})
                    labels = list(names.values()) if isinstance(names, dict) else list(names)
                    dtype = {"class_label": labels}
                features[feat["name"]] = dtype
        splits = {s["name"]: {"rows": s.get("num_examples"), "bytes": s.get("num_bytes")}
                  for s in cfg.get("splits") or [] if isinstance(s, dict) and "name" in s}
        out.append({"config": cfg.get("config_name", "default"), "features": features, "splits": splits,
                    "download_size": cfg.get("download_size"), "dataset_size": cfg.get("dataset_size")})
    return {"configs": out}


class HFDatasets:
    """Dataset search and info on the Hub at `endpoint` (HF_ENDPOINT already folded into config)."""

    def __init__(self, endpoint: str, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0):
        self.endpoint = endpoint.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.api = HfApi(endpoint=self.endpoint)

    def _probe(self) -> None:
        # The Hub client retries refused connections for ~20 s; a dead network
        # must be reported at once so the run can fall back.
        parts = urlsplit(self.endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname, port), timeout=self.connect_timeout_s):
                pass
        except OSError as exc:
            raise ToolError("unreachable", f"cannot reach the Hugging Face Hub at {self.endpoint}: {exc}",
                            source="hf") from None

    def _call(self, what: str, fn):
        self._probe()
        try:
            return fn()
        except GatedRepoError:
            raise ToolError("http", f"{what}: the dataset is gated; accept its terms on the Hub and set HF_TOKEN",
                            source="hf") from None
        except RepositoryNotFoundError:
            raise ToolError("not_found", f"{what}: no such dataset on {self.endpoint}", source="hf") from None
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise ToolError("http", f"{what}: the Hub answered HTTP {status}", source="hf") from None
        except TRANSPORT_ERRORS as exc:
            kind = "timeout" if "timeout" in exc.__class__.__name__.lower() else "unreachable"
            raise ToolError(kind, f"{what}: {exc.__class__.__name__}: {exc}", source="hf") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ToolError("malformed", f"{what}: unexpected answer from the Hub: {exc}", source="hf") from None

    def search(self, query: str, *, limit: int = 5, sort: str = "downloads",
               filters: list[str] | None = None) -> list[dict]:
        if sort not in SORTS:
            raise ToolError("bad_input", f"unknown sort '{sort}' (use {', '.join(SORTS)})", source="hf")
        limit = max(1, min(int(limit), MAX_LIMIT))
        return self._call(f"dataset search '{query}'", lambda: [
            summary(d) for d in self.api.list_datasets(search=query or None, filter=filters or None, sort=sort,
                                                       limit=limit, full=True)])

    def info(self, dataset_id: str) -> dict:
        def fetch() -> dict:
            info = self.api.dataset_info(dataset_id, timeout=self.read_timeout_s)
            card = info.card_data.to_dict() if info.card_data is not None else {}
            out = summary(info)
            out.update(card_details(card))
            out["license"] = card.get("license")
            out["task_categories"] = card.get("task_categories")
            if info.siblings is not None:
                out["files"] = [{"name": s.rfilename, "size": s.size} for s in info.siblings][:200]
            return out

        return self._call(f"dataset info for '{dataset_id}'", fetch)

    def prefetch(self, dataset_id: str, dest_dir: str | Path, *, max_bytes: int = PREFETCH_MAX_BYTES) -> dict:
        """Download the dataset repository to `dest_dir` so programs can read it offline."""
        dest = Path(dest_dir)

        def fetch() -> dict:
            info = self.api.dataset_info(dataset_id, files_metadata=True, timeout=self.read_timeout_s)
            size = sum(s.size or 0 for s in info.siblings or [])
            if size > max_bytes:
                raise ToolError("too_large", f"dataset '{dataset_id}' is {size} bytes, over the prefetch cap of "
                                             f"{max_bytes}", source="hf")
            path = snapshot_download(dataset_id, repo_type="dataset", local_dir=dest, endpoint=self.endpoint,
                                     etag_timeout=self.connect_timeout_s)
            files = sorted(str(p.relative_to(path)) for p in Path(path).rglob("*")
                           if p.is_file() and ".cache" not in p.parts)
            return {"dataset_id": dataset_id, "path": str(path), "files": files[:500], "bytes": size}

        return self._call(f"prefetch of '{dataset_id}'", fetch)
