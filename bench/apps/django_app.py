"""Django as a minimal single-file project: settings configured in code, function views, URL
converters, Django's own template engine (autoescaped), reads through Django's connection
layer with raw SQL (its documented "executing custom SQL directly" path; the SQLite file is
the one every app reads), and the `writes` scenario through the ORM (`Note.objects.create`,
a model of the `bench.apps` package registered as an installed app). Django has no body
validation for JSON, so pydantic does it; the `deps` chain is plain calls, the generator one
as a context manager.

Served by gunicorn: `gunicorn bench.apps.django_app:application`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import django
from django.conf import settings

from bench.apps.shared import (
    ADDITIONAL_FORTUNE,
    DB_PATH,
    HELLO,
    ROUTE_COUNT,
    ROUTE_PREFIX,
    TEMPLATES_DIR,
    WORLD_ROWS,
    Item,
    NoteIn,
    parse_bool,
)

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-a-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["bench.apps"],  # the app (label "apps") of the Note model below
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DB_PATH)}},
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(TEMPLATES_DIR)],
        }
    ],
    USE_TZ=True,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, models  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import require_GET, require_POST  # noqa: E402
from pydantic import ValidationError  # noqa: E402

item_ids = itertools.count(1)
open_resources = 0


class Note(models.Model):
    author = models.CharField(max_length=50)
    text = models.TextField()

    class Meta:
        app_label = "apps"
        db_table = "note"
        managed = False  # the benchmark runner creates (and empties) the table


def dep_a() -> int:
    return 1


def dep_b(a: int) -> int:
    return a + 1


@contextmanager
def dep_c(b: int) -> Iterator[int]:
    global open_resources
    open_resources += 1
    try:
        yield b + 1
    finally:
        open_resources -= 1


@require_GET
def plaintext(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HELLO, content_type="text/plain; charset=utf-8")


@require_GET
def json_(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"message": HELLO})


@require_GET
def user(request: HttpRequest, id: int) -> HttpResponse:
    try:
        verbose = parse_bool(request.GET.get("verbose", "false"))
    except ValueError:
        return JsonResponse({"detail": "verbose must be a boolean"}, status=422)
    return JsonResponse({"id": id, "verbose": verbose})


@csrf_exempt
@require_POST
def create_item(request: HttpRequest) -> HttpResponse:
    if request.content_type != "application/json":
        return JsonResponse({"detail": "expected application/json"}, status=415)
    try:
        item = Item.model_validate_json(request.body)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        return JsonResponse({"detail": errors}, status=422)
    return JsonResponse({"id": next(item_ids), **item.model_dump()}, status=201)


@csrf_exempt
@require_POST
def create_note(request: HttpRequest) -> HttpResponse:
    if request.content_type != "application/json":
        return JsonResponse({"detail": "expected application/json"}, status=415)
    try:
        note = NoteIn.model_validate_json(request.body)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        return JsonResponse({"detail": errors}, status=422)
    row = Note.objects.create(author=note.author, text=note.text)
    return JsonResponse({"id": row.id, "author": row.author, "text": row.text}, status=201)


def item_route(index: int) -> Callable[[HttpRequest, int], HttpResponse]:
    @require_GET
    def item(request: HttpRequest, id: int) -> HttpResponse:
        return JsonResponse({"route": index, "id": id})

    return item


@require_GET
def db(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, randomnumber FROM world WHERE id = %s", [random.randint(1, WORLD_ROWS)]
        )
        world_id, number = cursor.fetchone()
    return JsonResponse({"id": world_id, "randomNumber": number})


@require_GET
def fortunes(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, message FROM fortune")
        rows = [{"id": row[0], "message": row[1]} for row in cursor.fetchall()]
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=lambda row: row["message"])
    return render(request, "fortunes.html", {"fortunes": rows})


@require_GET
def deps(request: HttpRequest) -> HttpResponse:
    a = dep_a()
    b = dep_b(a)
    with dep_c(b) as c:
        return JsonResponse({"value": c})


urlpatterns = [
    path("plaintext", plaintext),
    path("json", json_),
    path("users/<int:id>", user),
    path("items", create_item),
    path("db", db),
    path("fortunes", fortunes),
    path("deps", deps),
    path("notes", create_note),
    *(
        path(f"{ROUTE_PREFIX[1:]}{index}/<int:id>", item_route(index), name=f"item{index}")
        for index in range(ROUTE_COUNT)
    ),
]

application = get_wsgi_application()
