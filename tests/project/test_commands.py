"""The command-line contract: import_reviews, train, predict_file, evaluate, promote, rollback, create_api_token."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from reviews.models import LabelEvent, Review
from training.models import ModelVersion, TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)

PHRASES = {
    5: ["Wonderful food", "Lovely staff", "Perfect evening", "Great pasta", "Superb dessert", "Charming room"],
    1: ["Cold food", "Rude staff", "Dirty floor", "Awful pasta", "Stale dessert", "Horrible evening"],
    3: ["Average food", "Okay staff", "Plain evening", "Fine pasta", "Ordinary dessert", "Usual room"],
}


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def reviews_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "stars", "text", "date", "place", "verdict"])
        for i in range(150):
            stars = [5, 1, 3][i % 3]
            words = PHRASES[stars]
            text = f"{words[i % 6]}. {words[(i // 6) % 6]}, {words[(i + 3) % 6].lower()}!"
            writer.writerow([f"id{i}", stars, text, f"2026-0{1 + i % 9}-15", f"Place {i % 4}", ""])
        writer.writerow(["empty", 4, "", "2026-01-01", "Place 1", ""])
        writer.writerow(["badrating", "great", "Text with an unusable rating", "2026-01-01", "Place 1", ""])
        writer.writerow(["baddate", 4, "Text with a bad date", "not a date", "Place 1", ""])
        writer.writerow(["labelled", 4, "Staff labelled this one", "2026-01-01", "Place 1", "Negative"])
    return path


def import_csv(path, *extra) -> str:
    out, _ = run(
        "import_reviews", str(path), "--text-col", "text", "--rating-col", "stars", "--id-col", "review_id",
        "--date-col", "date", "--business-col", "place", "--label-col", "verdict", "--source", "yelp", *extra,
    )  # fmt: skip
    return out


class TestImportReviews:
    def test_it_imports_with_predictions_and_reports_what_it_skipped(self, reviews_csv):
        out = import_csv(reviews_csv)

        assert "154 rows" in out and "152 imported" in out and "1 labelled" in out
        assert "1 skipped (no text)" in out and "1 invalid" in out and "1 rating ignored" in out
        assert "is not a date" in out
        assert Review.objects.count() == 152
        assert not Review.objects.filter(predicted_label__isnull=True).exists()
        stored = Review.objects.get(external_id="id1")
        assert (stored.source, stored.rating, stored.business) == ("yelp", 1, "Place 1")
        assert stored.review_date.date().isoformat() == "2026-02-15"
        assert Review.objects.get(external_id="badrating").rating is None
        assert Review.objects.get(external_id="labelled").human_label == "negative"

    def test_importing_the_same_file_twice_adds_nothing(self, reviews_csv):
        import_csv(reviews_csv)
        out = import_csv(reviews_csv)

        assert "0 imported" in out and "152 already present" in out and "0 labelled" in out
        assert Review.objects.count() == 152
        assert LabelEvent.objects.count() == 1

    def test_without_an_id_column_the_content_keeps_it_idempotent(self, tmp_path):
        path = tmp_path / "plain.jsonl"
        path.write_text(
            "\n".join(json.dumps({"review": text, "rating": 4}) for text in ["Nice place", "Nice place", "Good"])
            + "\nnot json\n"
        )

        first, _ = run("import_reviews", str(path))
        second, _ = run("import_reviews", str(path))

        assert "1 invalid" in first and "not JSON" in first
        assert Review.objects.count() == 2
        assert "0 imported" in second

    def test_a_review_dated_in_the_future_is_reported_invalid_and_the_rest_imported(self, tmp_path):
        path = tmp_path / "dated.jsonl"
        rows = [{"review": "Lovely lunch", "date": "2026-01-05"}, {"review": "From the future", "date": "9999-01-01"}]
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")

        out, _ = run("import_reviews", str(path), "--date-col", "date")

        assert "1 imported" in out and "1 invalid" in out and "in the future" in out
        assert list(Review.objects.values_list("text", flat=True)) == ["Lovely lunch"]

    def test_a_missing_file_or_column_fails(self, reviews_csv, tmp_path):
        with pytest.raises(CommandError, match="No such file"):
            run("import_reviews", str(tmp_path / "nope.csv"))
        with pytest.raises(CommandError, match="'words'"):
            run("import_reviews", str(reviews_csv), "--text-col", "words")

    @pytest.mark.parametrize("rating", ['"Infinity"', '"-Infinity"', '"NaN"', '"sNaN"', "1e400", '"1e999999999"'])
    def test_a_rating_that_is_no_usable_number_is_ignored_and_the_review_kept(self, tmp_path, rating):
        path = tmp_path / "odd.jsonl"
        path.write_text(
            f'{{"text": "Odd rating here", "rating": {rating}, "id": "odd"}}\n'
            '{"text": "A normal one", "rating": 4, "id": "normal"}\n'
        )

        out, _ = run("import_reviews", str(path), "--id-col", "id")

        assert "2 imported" in out and "1 rating ignored" in out
        assert Review.objects.get(external_id="odd").rating is None
        assert Review.objects.get(external_id="normal").rating == 4

    def test_a_file_rated_out_of_ten_keeps_every_review_with_its_rating_in_stars(self, tmp_path):
        path = tmp_path / "films.csv"
        path.write_text("id,text,rating\na,A triumph of a film,9\nb,Dull and far too long,2\nc,Watchable once,6\n")

        out, err = run("import_reviews", str(path), "--id-col", "id")

        assert "3 imported" in out and "0 invalid" in out and "0 rating ignored" in out
        assert "read on a 0-10 scale" in err
        assert dict(Review.objects.values_list("external_id", "rating")) == {"a": 4.5, "b": 1, "c": 3}

    def test_the_rating_scale_can_be_given_and_a_rating_off_it_is_ignored_not_the_review(self, tmp_path):
        path = tmp_path / "scores.csv"
        path.write_text("id,text,rating\na,Great,4\nb,Off the scale,40\n")

        out, _ = run("import_reviews", str(path), "--id-col", "id", "--rating-scale", "5")

        assert "2 imported" in out and "1 rating ignored" in out and "above this file's 0-5 scale" in out
        assert dict(Review.objects.values_list("external_id", "rating")) == {"a": 4, "b": None}

    def test_zero_and_one_labels_read_as_negative_and_positive(self, tmp_path):
        path = tmp_path / "sst.jsonl"
        rows = [{"sentence": "a gorgeous, witty film", "label": 1}, {"sentence": "a tedious mess", "label": 0}]
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")

        out, err = run("import_reviews", str(path), "--text-col", "sentence", "--label-col", "label")

        assert "2 labelled" in out and "labels read as 0 = negative, 1 = positive" in err
        assert dict(Review.objects.values_list("text", "human_label")) == {
            "a gorgeous, witty film": "positive",
            "a tedious mess": "negative",
        }

    def test_a_label_map_says_what_the_values_mean(self, tmp_path):
        path = tmp_path / "tagged.csv"
        path.write_text("text,tag\nLoved it,good\nHated it,bad\nIt was a place,meh\nOdd one,weird\n")

        out, _ = run(
            "import_reviews", str(path), "--label-col", "tag", "--label-map", "good=positive,bad=negative,meh=neutral"
        )

        assert "4 imported" in out and "3 labelled" in out and "1 label ignored" in out
        assert "'weird' is not positive/neutral/negative" in out
        assert dict(Review.objects.values_list("text", "human_label"))["It was a place"] == "neutral"
        with pytest.raises(CommandError, match="--label-map"):
            run("import_reviews", str(path), "--label-col", "tag", "--label-map", "good")

    def test_unix_times_in_seconds_or_milliseconds_are_dates(self, tmp_path):
        path = tmp_path / "amazon.jsonl"
        rows = [
            {"reviewText": "Works well", "overall": 5.0, "unixReviewTime": 1394755200},
            {"reviewText": "Broke in a week", "overall": 1.0, "unixReviewTime": "1394755200000"},
            {"reviewText": "Odd date", "overall": 3.0, "unixReviewTime": "soon"},
            {"reviewText": "Odder date", "overall": 3.0, "unixReviewTime": "later"},
        ]
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")

        out, _ = run("import_reviews", str(path), "--text-col", "reviewText", "--rating-col", "overall",
                     "--date-col", "unixReviewTime")  # fmt: skip

        assert "2 imported" in out and "2 invalid" in out
        assert "2 x date is not a date (e.g. 'soon')" in out
        dates = {review.review_date.date().isoformat() for review in Review.objects.all()}
        assert dates == {"2014-03-14"}

    def test_a_file_that_writes_dates_day_first_is_read_day_first_throughout(self, tmp_path):
        path = tmp_path / "europe.csv"
        path.write_text("text;date;rating\nTrès bon;14/03/2014;4,5\nMoyen;03/04/2015;3\nBof;31/12/2016;1,5\n")

        out, err = run("import_reviews", str(path), "--date-col", "date")

        assert "3 imported" in out and "0 rating ignored" in out and "dates read day first" in err
        stored = {r.text: (r.review_date.date().isoformat(), r.rating) for r in Review.objects.all()}
        assert stored == {"Très bon": ("2014-03-14", 4.5), "Moyen": ("2015-04-03", 3), "Bof": ("2016-12-31", 1.5)}

    def test_ratings_read_as_stars_are_named_so_the_scale_can_be_corrected(self, tmp_path):
        path = tmp_path / "imdb_negative.csv"
        path.write_text("text,rating\nDreadful,1\nPoor,4\nBad,3\n")

        _, err = run("import_reviews", str(path))
        out, _ = run("import_reviews", str(path), "--source", "imdb", "--rating-scale", "10")

        assert "read on a 0-5 star scale (--rating-scale to change)" in err
        assert sorted(Review.objects.filter(source="imdb").values_list("rating", flat=True)) == [1, 1.5, 2]

    def test_texts_of_invisible_characters_only_are_skipped_like_empty_ones(self, tmp_path):
        path = tmp_path / "odd.jsonl"
        rows = [{"text": "\u200b"}, {"text": "\u200d\ufeff "}, {"text": "Real words"}]
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")

        out, _ = run("import_reviews", str(path))

        assert "1 imported" in out and "2 skipped (no text)" in out

    def test_an_empty_file_is_refused_saying_so(self, tmp_path):
        path = tmp_path / "empty.csv"
        path.write_text("")

        with pytest.raises(CommandError, match="The file is empty"):
            run("import_reviews", str(path))

    def test_a_json_array_file_is_read_like_json_lines(self, tmp_path):
        path = tmp_path / "export.json"
        rows = [{"Comentario": "Great tacos", "stars": 5, "id": "a"}, "not an object",
                {"Comentario": "Cold soup", "stars": 1, "id": "b"}]  # fmt: skip
        path.write_text(json.dumps(rows, indent=2))

        out, _ = run("import_reviews", str(path), "--text-col", "Comentario", "--id-col", "id")

        assert "2 imported" in out and "1 invalid" in out and "not a JSON object" in out
        assert sorted(Review.objects.values_list("text", "rating")) == [("Cold soup", 1), ("Great tacos", 5)]

    def test_a_json_array_that_is_not_valid_json_is_a_clear_error(self, tmp_path):
        path = tmp_path / "broken.json"
        path.write_text('[{"text": "cut off"')

        with pytest.raises(CommandError, match=r"broken.json is not valid JSON \(line 1"):
            run("import_reviews", str(path))
        with pytest.raises(CommandError, match=r"broken.json is not valid JSON \(line 1"):
            run("predict_file", str(path), "--out", str(tmp_path / "out.jsonl"))
        assert not Review.objects.exists()

    def test_a_row_with_a_blank_id_is_identified_by_its_content_and_not_stored_twice(self, tmp_path):
        path = tmp_path / "ids.csv"
        path.write_text("rid,text\nr1,Lovely soup\n,No id on this one\n")

        run("import_reviews", str(path), "--id-col", "rid")
        second, _ = run("import_reviews", str(path), "--id-col", "rid")

        assert "0 imported" in second and "2 already present" in second
        assert Review.objects.filter(text="No id on this one").count() == 1

    @pytest.mark.parametrize(
        "written, stored", [("2020", "2020-01-01"), ("Mar 2019", "2019-03-01"), ("March", None), ("Tuesday", None)]
    )
    def test_a_partial_date_is_the_start_of_its_period_never_a_day_taken_from_today(self, tmp_path, written, stored):
        path = tmp_path / "partial.csv"
        path.write_text(f"text,date\nLovely soup,{written}\n")

        out, _ = run("import_reviews", str(path), "--date-col", "date")

        if stored is None:  # no year: not a date
            assert "0 imported" in out and "1 invalid" in out
        else:
            assert "1 imported" in out
            assert Review.objects.get().review_date.date().isoformat() == stored

    def test_a_text_that_is_a_json_number_list_or_object_is_invalid(self, tmp_path):
        path = tmp_path / "odd.jsonl"
        rows = [{"text": {"nested": 1}}, {"text": ["a", "b"]}, {"text": 42}, {"text": "A real review"}]
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")

        out, _ = run("import_reviews", str(path))

        assert "1 imported" in out and "3 invalid" in out and "not a string" in out
        assert list(Review.objects.values_list("text", flat=True)) == ["A real review"]

    def test_an_id_longer_than_200_characters_is_an_invalid_row_not_cut_into_another_reviews_id(self, tmp_path):
        path = tmp_path / "long_ids.csv"
        prefix = "x" * 200
        path.write_text(f"rid,text\n{prefix}A,First review\n{prefix}B,Second review\nshort,Third review\n")

        out, _ = run("import_reviews", str(path), "--id-col", "rid")

        assert "1 imported" in out and "2 invalid" in out and "external_id" in out
        assert list(Review.objects.values_list("text", flat=True)) == ["Third review"]

    def test_a_windows_1252_file_is_read_as_such_with_a_note(self, tmp_path):
        path = tmp_path / "excel.csv"
        path.write_bytes("text\nLovely soup\nCaf\u00e9 au lait \u2013 \u20ac3\n".encode("cp1252"))

        out, err = run("import_reviews", str(path))

        assert "2 imported" in out and "read as Windows-1252" in err
        assert Review.objects.filter(text="Caf\u00e9 au lait \u2013 \u20ac3").exists()

    def test_a_file_in_neither_utf8_nor_windows_1252_is_a_clear_error_before_any_row(self, tmp_path):
        path = tmp_path / "binary.csv"
        path.write_bytes(b"text\nLovely soup\nBroken \x81\xe9 bytes\n")

        with pytest.raises(CommandError, match=r"binary.csv is not UTF-8 text: byte 0x81 .*\(line 3\)"):
            run("import_reviews", str(path))
        with pytest.raises(CommandError, match="is not UTF-8 text"):
            run("predict_file", str(path), "--out", str(tmp_path / "out.csv"))
        assert not Review.objects.exists()


class TestTrainAndPredict:
    def test_train_wait_runs_here_and_prints_the_decision_last(self, reviews_csv):
        import_csv(reviews_csv)

        out, err = run("train", "--wait", "--min-samples", "20")

        last_line = out.strip().splitlines()[-1]
        assert last_line.startswith(("promoted sentiment-", "kept baseline-lexicon: candidate sentiment-"))
        assert "Fitting" in err
        job = TrainingJob.objects.get()
        assert job.status == "succeeded" and job.trigger == "command"

    def test_train_without_enough_data_fails(self):
        with pytest.raises(CommandError, match="Not enough usable examples"):
            run("train", "--wait", "--min-samples", "5")

    def test_predict_file_writes_one_row_per_input_row_in_order(self, tmp_path):
        source = tmp_path / "in.csv"
        source.write_text('text,label\n"Superb food, lovely staff",positive\n,\n"Rude and cold",negative\n  ,x\n')

        run("predict_file", str(source), "--text-col", "text", "--out", str(tmp_path / "out.csv"))
        run("predict_file", str(source), "--text-col", "text", "--out", str(tmp_path / "out.jsonl"))

        rows = list(csv.DictReader((tmp_path / "out.csv").open()))
        assert [row["label"] for row in rows] == ["positive", "", "negative", ""]
        assert set(rows[0]) >= {"label", "confidence", "score_positive", "score_neutral", "score_negative"}
        assert float(rows[0]["score_positive"]) == pytest.approx(float(rows[0]["confidence"]))
        lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert [line["label"] for line in lines] == ["positive", None, "negative", None]

    def test_predict_file_copies_input_cells_exactly(self, tmp_path):
        source = tmp_path / "ids.csv"
        source.write_text(
            "review_id,text,score\n-EtZp6H9Mee44tQ0ijjFxA,The food was not good,-1\n@x,Best pizza ever,+3\n"
        )

        run("predict_file", str(source), "--text-col", "text", "--out", str(tmp_path / "out.csv"))

        rows = list(csv.DictReader((tmp_path / "out.csv").open()))
        assert [(row["review_id"], row["score"]) for row in rows] == [("-EtZp6H9Mee44tQ0ijjFxA", "-1"), ("@x", "+3")]

    def test_predict_file_reads_and_writes_tab_separated_files(self, tmp_path):
        source = tmp_path / "sentences.tsv"
        source.write_text("id\tsentence\n1\tSuperb food, lovely staff\n2\tRude and cold\n")

        run("predict_file", str(source), "--text-col", "sentence", "--out", str(tmp_path / "out.tsv"))

        rows = list(csv.DictReader((tmp_path / "out.tsv").open(), delimiter="\t"))
        assert [(row["id"], row["label"]) for row in rows] == [("1", "positive"), ("2", "negative")]

    def test_predict_file_keeps_input_columns_named_like_its_outputs_under_an_input_prefix(self, tmp_path):
        source = tmp_path / "gold.csv"
        source.write_text("text,label,confidence\nSuperb food,negative,0.1\n=1+2 the soup was cold,neutral,\n")

        run("predict_file", str(source), "--text-col", "text", "--out", str(tmp_path / "out.csv"))
        source_jsonl = tmp_path / "gold.jsonl"
        source_jsonl.write_text(json.dumps({"text": "Superb food", "label": "pos"}) + "\n")
        run("predict_file", str(source_jsonl), "--text-col", "text", "--out", str(tmp_path / "out.jsonl"))

        rows = list(csv.DictReader((tmp_path / "out.csv").open()))
        assert list(rows[0])[:3] == ["text", "input_label", "input_confidence"]
        assert [row["input_label"] for row in rows] == ["negative", "neutral"]
        assert rows[0]["label"] == "positive" and rows[1]["label"] in {"positive", "neutral", "negative"}
        # Copied exactly as given, so the output joins back to the input (it is the caller's own file).
        assert rows[1]["text"] == "=1+2 the soup was cold"
        [line] = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert (line["input_label"], line["label"]) == ("pos", "positive")

    def test_predict_file_refuses_two_output_formats_at_once(self, tmp_path):
        source = tmp_path / "in.csv"
        source.write_text("text\nGreat food\n")

        with pytest.raises(CommandError, match="choose one"):
            run(
                "predict_file",
                str(source),
                "--aspects",
                "--aspect-scheme",
                "semeval2014",
                "--out",
                str(tmp_path / "o.jsonl"),
            )

    def test_predict_file_reads_a_header_naming_a_column_twice_as_name_dot_1(self, tmp_path):
        source = tmp_path / "twice.csv"
        source.write_text("text,text\nSuperb food,second copy\n")

        run("predict_file", str(source), "--text-col", "text", "--out", str(tmp_path / "out.csv"))

        [row] = list(csv.DictReader((tmp_path / "out.csv").open()))
        assert (row["text"], row["text.1"], row["label"]) == ("Superb food", "second copy", "positive")

    def test_evaluate_promote_and_rollback(self, reviews_csv):
        import_csv(reviews_csv)
        run("train", "--wait", "--min-samples", "20")
        trained = ModelVersion.objects.exclude(name="baseline-lexicon").get()
        if trained.stage != "champion":
            run("promote", trained.name)

        report = json.loads(run("evaluate")[0])
        assert report["model_version"] == trained.name
        assert json.loads(run("evaluate", "--version", "baseline-lexicon")[0])["model_version"] == "baseline-lexicon"
        assert report["evaluation_set"]["kind"] == "rated"
        assert "macro_f1" in report["metrics"]
        assert "Rolled back to baseline-lexicon" in run("rollback")[0]
        assert f"Deployed {trained.name}" in run("promote", trained.name)[0]
        with pytest.raises(CommandError, match="already deployed"):
            run("promote", trained.name)
        with pytest.raises(CommandError, match="No model version"):
            run("promote", "nope")
