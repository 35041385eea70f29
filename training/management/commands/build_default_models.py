"""manage.py build_default_models: rebuild the trained defaults in training/pretrained/ from the public files."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from training.defaults import (
    MANIFEST,
    PRETRAINED_DIR,
    build_default_aspects,
    build_default_sentiment_encoder,
    build_default_suggestions,
    shipped_manifest,
)
from training.model_card import write_model_card

BUILDERS = {"aspects": build_default_aspects, "suggestions": build_default_suggestions}
# Built from the weights of a fine-tune (bench/finetune_encoder.py, PyTorch in its own venv), so only on request.
ON_REQUEST = {"sentiment_encoder"}


class Command(BaseCommand):
    help = (
        "Train the default models that ship in training/pretrained/ from the public annotation files under "
        "--data-dir (default SHARED_DATA_DIR), measure them, and write defaults.json and MODEL_CARD.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--data-dir", default=None)
        parser.add_argument("--out", default=str(PRETRAINED_DIR))
        parser.add_argument(
            "--only", choices=sorted(BUILDERS.keys() | ON_REQUEST), action="append", help="Build only these kinds"
        )
        parser.add_argument(
            "--finetuned-weights",
            default=None,
            help="Folder bench/finetune_encoder.py --out wrote (model.safetensors, head.json): with "
            "--only sentiment_encoder, ship that encoder as the accurate kind's int8 graph (without it, "
            "--only sentiment_encoder measures the shipped one again)",
        )

    def handle(
        self, *args, data_dir: str | None, out: str, only: list[str] | None, finetuned_weights: str | None, **options
    ) -> None:
        source = Path(data_dir or settings.SHARED_DATA_DIR)
        if not source.is_dir():
            raise CommandError(f"No data folder {source} (set --data-dir or SHARED_DATA_DIR)")
        folder = Path(out)
        manifest = shipped_manifest(folder)
        for kind in only or sorted(BUILDERS):
            self.stderr.write(f"Building the default {kind} model from {source}")
            try:
                if kind == "sentiment_encoder":
                    weights = Path(finetuned_weights) if finetuned_weights else None
                    manifest[kind] = build_default_sentiment_encoder(source, folder, weights_dir=weights)
                else:
                    manifest[kind] = BUILDERS[kind](source, folder)
            except FileNotFoundError as exc:
                if kind == "sentiment_encoder" and not finetuned_weights and Path(exc.filename).parent == folder:
                    raise CommandError(f"{kind}: {exc.strerror}: {exc.filename}") from exc
                raise CommandError(f"{kind}: a public file is missing: {exc.filename}") from exc
            size = (folder / manifest[kind]["file"]).stat().st_size
            manifest[kind]["size_bytes"] = size
            self.stderr.write(f"{kind}: {size / 1e6:.1f} MB, {json.dumps(manifest[kind]['metrics'])}")
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        write_model_card(manifest, folder / "MODEL_CARD.md")
        self.stdout.write(f"Wrote {', '.join(sorted(manifest))} to {folder}")
