-- MLflow's tracking and registry store lives in its own database beside the application's.
-- Run by the postgres image on its first start only (an empty data volume); on an existing
-- volume create it once by hand: docker compose exec postgres createdb -U revsent mlflow
CREATE DATABASE mlflow;
