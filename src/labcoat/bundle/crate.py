"""`ro-crate-metadata.json`: the bundle described as an RO-Crate (https://w3id.org/ro/crate).

Every file is a `File` with its sha256 and size; each program is a
`SoftwareSourceCode` and its recorded run a `CreateAction` (instrument: the
program, object: its inputs, result: its recorded metrics); data fetched
from the Hugging Face Hub is a contextual `Dataset` named by its URL and
revision; labcoat is the `SoftwareApplication` that ran it all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CRATE_FILE = "ro-crate-metadata.json"
_FORMATS = {".pdf": "application/pdf", ".tex": "application/x-tex", ".bib": "application/x-bibtex",
            ".md": "text/markdown", ".json": "application/json", ".jsonl": "application/jsonl", ".py": "text/x-python",
            ".png": "image/png", ".txt": "text/plain", ".lock": "text/plain"}


def write_crate(root: Path, bundle: dict[str, Any], programs: list[dict[str, Any]],
                files: dict[str, dict[str, Any]]) -> Path:
    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    crate = ROCrate()
    crate.root_dataset["name"] = f"Reproducibility bundle of labcoat run {bundle['run_id']}"
    crate.root_dataset["description"] = (f"Paper \"{bundle.get('title') or bundle.get('topic')}\", the programs that "
                                         "produced the numbers it states, their inputs, environment and model calls.")
    entities = {}
    for rel, meta in sorted(files.items()):
        props = {"contentSize": meta["bytes"], "sha256": meta["sha256"]}
        fmt = _FORMATS.get(Path(rel).suffix)
        if fmt:
            props["encodingFormat"] = fmt
        if rel.startswith("programs/") and rel.endswith("/main.py"):
            props |= {"@type": ["File", "SoftwareSourceCode"], "programmingLanguage": "Python"}
        entities[rel] = crate.add_file(source=None, dest_path=rel, properties=props)
    env = bundle.get("environment_summary", {})
    labcoat = crate.add(ContextEntity(crate, "#labcoat", properties={
        "@type": "SoftwareApplication", "name": "labcoat", "version": str(env.get("labcoat_version") or ""),
        **({"identifier": env["labcoat_commit"]} if env.get("labcoat_commit") else {})}))
    for program in programs:
        code = entities.get(program["code"])
        if code is not None:
            code["name"] = f"{program['name']}: {program['role']}"
        objects = [_input_entity(crate, entities, spec) for spec in program["inputs"].values()]
        results = [entities[p] for p in (program.get("recorded_file"),) if p in entities]
        crate.add_action(code or labcoat, identifier=f"#run-{program['name']}",
                         object=[o for o in objects if o is not None], result=results,
                         properties={"name": f"sandboxed run of {program['name']}", "agent": {"@id": "#labcoat"}})
    path = root / CRATE_FILE
    path.write_text(json.dumps(crate.metadata.generate(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _input_entity(crate: Any, entities: dict[str, Any], spec: dict[str, Any]) -> Any:
    from rocrate.model.contextentity import ContextEntity

    source = spec.get("source", {})
    if source.get("kind") == "huggingface":
        url = f"https://huggingface.co/datasets/{source['repo']}"
        return crate.add(ContextEntity(crate, url, properties={
            "@type": "Dataset", "name": source["repo"], "version": source.get("revision") or "unknown"}))
    folder = spec.get("bundle_path")
    if folder:
        return crate.add_dataset(source=None, dest_path=folder.rstrip("/") + "/",
                                 properties={"name": f"input {folder}"})
    return None
