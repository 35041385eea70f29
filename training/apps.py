from django.apps import AppConfig


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"

    def ready(self) -> None:
        from reviews import serving
        from training import receivers  # noqa: F401  (baseline model, staff aspect annotations)
        from training.serving import TrainingServing

        # reviews' one door to the models (reviews/serving.py): ingest predicts through it.
        serving.install(TrainingServing())
