from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from reviews.models import Review
from training.models import ModelVersion, TrainingJob


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


class TokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Token

    user = factory.SubFactory(UserFactory)


class ReviewFactory(factory.django.DjangoModelFactory):
    """A stored review without a prediction (use the services or the API to get one)."""

    class Meta:
        model = Review

    text = factory.Faker("paragraph", nb_sentences=3)
    source = "google"
    business = factory.Iterator(["Trattoria Roma", "Spice Garden", "Blue Fin"])
    author = factory.Faker("first_name")


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"sentiment-test-{n}")
    algorithm = "vader-lexicon"


class TrainingJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingJob


def trainable_reviews(count: int, text: str = "Nice", **fields) -> list[Review]:
    """New reviews (through the bulk-create service), as many as it takes for `count` of them to fall outside the
    evaluation bucket: the ones a training learns from and readiness counts (training.datasets)."""
    from reviews.schemas import ReviewIn
    from reviews.services import review_bulk_create
    from training.ml.holdout import in_evaluation_bucket

    created: list[Review] = []
    number = 0
    while sum(not in_evaluation_bucket(review.pk) for review in created) < count:
        [result] = review_bulk_create(items=[ReviewIn(text=f"{text} {number}", **fields)])
        created.append(result.review)
        number += 1
    return created
