"""python manage.py exportconfig [FILE.yaml]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from queueapp import config_yaml


class Command(BaseCommand):
    help = (
        "Write the worker configurations (from the database) and the queue defaults (from the settings) in the "
        "original FairQueue's YAML format, to FILE or to stdout; `importconfig` reads it back unchanged."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="where to write (default: stdout); an existing file is replaced")

    def handle(self, *args, **options):
        try:
            data = config_yaml.export_data()
        except (TypeError, ValueError) as exc:  # a FAIRQUEUE setting the engine refuses
            raise CommandError(f"FAIRQUEUE setting is invalid: {exc}") from exc
        text = config_yaml.export_text(data)
        path = options["file"]
        if not path or path == "-":
            self.stdout.write(text, ending="")
            return
        target = Path(path)
        partial = target.with_name(f".{target.name}.partial")
        try:
            partial.write_text(text, encoding="utf-8")
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"{path}: cannot be written: {exc.strerror or exc}") from exc
        self.stdout.write(f"wrote {len(data['workers'])} worker configuration(s) to {path}")
