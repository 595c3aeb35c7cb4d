"""The contact pages in a real browser (Debian's headless Chromium driven by Playwright) against
the real app under uvicorn: a CSV import with a bad row (the page names the row, the others
are imported, the progress is shown), filtering by group, adding contacts to a group, editing a
contact with a typed field, and every page at 390 px without sideways scrolling. With
``SUTRA_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/console-contacts.png``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from sutra.testing.live import LiveServer, require_browser
from tests.web.consolekit import (
    live_server,
    no_sideways_scroll,
    on_a_phone,
    picture,
    signed_in_page,
    staff_client,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Row 4 has a number that cannot be anyone's; the others are fine (row 3 is written the way
# people in India write a mobile number, row 5 with its country code).
PEOPLE = """Name,Mobile,Language,District,Groups
Asha Rao,098123 45678,Hindi,Pune,Teachers; Pune
Ravi Kumar,99887 76655,en,Nashik,Teachers
Bad Number,12345,en,Pune,
Lena Ott,+49 30 901820,de,,Volunteers
"""
# Enough rows that the import goes in several batches, with one refused on the way.
MANY = "name,phone\n" + "\n".join(
    f"Person {i},{'not a number' if i == 1234 else f'+9198{i:08d}'}" for i in range(2500)
)


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("contacts") / "sutra.db") as server:
        with staff_client(server) as staff:
            made = staff.post("/console/api/fields", json={"name": "Age", "value_type": "number"})
            assert made.status_code == 201, made.text
        yield server


@pytest.fixture
def page(browser: Browser, live: LiveServer) -> Iterator[Page]:
    with signed_in_page(browser, live, "/contacts/import") as opened:
        yield opened


def _ensure_people(live: LiveServer) -> None:
    """The import test's contacts, for a test run on its own (importing again changes nothing)."""
    with staff_client(live) as staff:
        files = {"file": ("people.csv", PEOPLE.encode(), "text/csv")}
        job = staff.post("/console/api/contacts/imports", files=files, data={"country": "IN"})
        assert job.status_code == 202, job.text
        for _ in range(200):
            if (
                staff.get(f"/console/api/contacts/imports/{job.json()['uuid']}").json()["status"]
                != "running"
            ):
                return
            time.sleep(0.05)
    raise AssertionError("the import did not finish")


# A few more, some of whom wrote in lately: the README's picture of the list.
MORE = """name,phone,language,district,groups,status
Meena Patil,+91 97000 11111,mr,Pune,Mothers; Pune,
Sunita Devi,+91 97000 22222,hi,Nashik,Mothers,
Joseph Mwangi,+254 712 345678,sw,,Volunteers,
Fatima Sheikh,+91 97000 33333,ur,Pune,Teachers,opted out
Arjun Nair,+91 97000 44444,ml,,,
"""


def _more_people(live: LiveServer) -> None:
    with staff_client(live) as staff:
        files = {"file": ("more.csv", MORE.encode(), "text/csv")}
        job = staff.post("/console/api/contacts/imports", files=files, data={"country": "IN"})
        assert job.status_code == 202, job.text
        time.sleep(0.5)
    live.call(_seen_lately(live))


async def _seen_lately(live: LiveServer) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from sutra.store import models as m

    now = datetime.now(UTC)
    async with live.state.repo.sessions.begin() as db:
        for minutes, name in enumerate(["Meena Patil", "Asha Rao", "Joseph Mwangi", "Ravi Kumar"]):
            await db.execute(
                update(m.Contact)
                .where(m.Contact.name == name)
                .values(last_message_at=now - timedelta(minutes=7 + 95 * minutes))
            )


def _import(page: Page, name: str, text: str) -> None:
    page.goto(page.url.split("/contacts")[0] + "/contacts/import")
    page.select_option("#import-country", "IN")
    page.set_input_files(
        "#import-file", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}]
    )


def test_import_names_the_bad_row_and_imports_the_rest(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    _import(page, "people.csv", PEOPLE)
    # The columns are matched by their names; District becomes a new field.
    selects = page.locator("#columns select")
    expect(selects).to_have_count(5)
    expect(selects.nth(0)).to_have_value("name")
    expect(selects.nth(1)).to_have_value("phone")
    expect(selects.nth(2)).to_have_value("language")
    expect(selects.nth(3)).to_have_value("field:district")
    expect(selects.nth(4)).to_have_value("groups")
    expect(page.locator("#summary")).to_have_text(
        "4 rows: 3 new contacts, 0 contacts updated, 1 row refused."
    )
    expect(page.locator("#refusal-list li")).to_have_text(
        ['Row 4: "12345" is not a valid phone number in IN']
    )
    preview = page.locator("#preview tbody tr")
    expect(preview).to_have_count(3)
    # The numbers as they will be stored: E.164, the country code from the default country.
    expect(preview.nth(0)).to_contain_text("+919812345678")
    expect(preview.nth(1)).to_contain_text("+919988776655")
    expect(preview.nth(2)).to_contain_text("+4930901820")

    # Leaving a column out changes the preview at once.
    selects.nth(3).select_option("")
    expect(preview.nth(0)).not_to_contain_text("district")
    selects.nth(3).select_option("field:district")
    expect(preview.nth(0)).to_contain_text("district: Pune")

    page.click("#import-button")
    expect(page.locator("#progress-title")).to_have_text("Imported")
    expect(page.locator("#result-text")).to_have_text(
        "3 contacts imported (3 new, 0 updated). 1 row refused:"
    )
    expect(page.locator("#result-errors li")).to_have_text(
        ['Row 4: "12345" is not a valid phone number in IN']
    )
    page.click("text=See the contacts")
    rows = page.locator("#contacts tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#count")).to_contain_text("1–3 of 3 contacts")
    asha = rows.filter(has_text="Asha Rao")
    expect(asha).to_contain_text("+919812345678")
    expect(asha.locator(".chip")).to_have_text(["Pune", "Teachers"])


def test_filter_by_group_and_add_contacts_to_a_group(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    _ensure_people(live)
    with staff_client(live) as staff:
        made = staff.post("/console/api/groups", json={"name": "Workshop"})
        assert made.status_code == 201, made.text

    page.goto(f"{live.url}/contacts")
    page.select_option("select[name=group]", label="Teachers (2)")
    page.click("text=Filter")
    rows = page.locator("#contacts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.locator("td[data-label=Name]")).to_have_text(["Ravi Kumar", "Asha Rao"])
    expect(page.locator("#count")).to_have_text("1–2 of 2 contacts matching")

    # Pick both and add them to another group.
    expect(page.locator("#bulk")).to_be_hidden()
    page.check("#pick-all")
    expect(page.locator("#picked")).to_have_text("2 selected")
    page.select_option("#bulk-group", label="Workshop")
    page.click("#bulk-add")
    expect(page.locator("#notice")).to_have_text("Added 2 contacts to Workshop.")
    page.goto(f"{live.url}/contacts/groups")
    workshop = page.locator("#groups tr", has_text="Workshop")
    expect(workshop.locator("td[data-label=Contacts]")).to_have_text("2")
    workshop.locator("a.strong").click()
    expect(page.locator("#contacts tbody tr")).to_have_count(2)

    # Other filters: language, and a field's value.
    page.goto(f"{live.url}/contacts?language=de")
    expect(page.locator("#contacts td[data-label=Name]")).to_have_text(["Lena Ott"])
    page.goto(f"{live.url}/contacts")
    page.select_option("select[name=field]", label="District")
    page.fill("input[name=value]", "nashik")
    page.click("text=Filter")
    expect(page.locator("#contacts td[data-label=Name]")).to_have_text(["Ravi Kumar"])
    _more_people(live)
    page.set_viewport_size({"width": 1280, "height": 820})
    page.goto(f"{live.url}/contacts")
    picture(page, "console-contacts.png")


def test_edit_a_contact(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    _ensure_people(live)
    page.goto(f"{live.url}/contacts?q=ravi")
    page.locator("#contacts tbody tr").first.locator("a.strong").click()
    expect(page.locator("#contact-name")).to_have_text("Ravi Kumar")
    page.fill("#edit-name", "Ravi K.")
    page.fill("[data-field=age]", "about thirty")
    page.click("#save")
    # A number field refuses what is not a number, and says which field.
    expect(page.locator("#notice")).to_have_text('fields.age: "about thirty" is not a number')
    expect(page.locator("#notice")).to_have_class("notice error")
    page.fill("[data-field=age]", "31")
    page.select_option("#edit-status", label="Opted out")
    page.click("#save")
    expect(page.locator("#notice")).to_have_text("Saved.")
    expect(page.locator("#contact-name")).to_have_text("Ravi K.")
    expect(page.locator("[data-field=age]")).to_have_value("31")
    expect(page.locator("#edit-status")).to_have_value("stopped")

    # Groups from the profile.
    chips = page.locator("#member-groups .chip")
    expect(chips.filter(has_text="Teachers")).to_have_count(1)
    expect(chips.filter(has_text="Volunteers")).to_have_count(0)
    page.select_option("#add-group", label="Volunteers")
    page.click("#add-to-group")
    expect(page.locator("#notice")).to_have_text("Added to Volunteers.")
    expect(chips.filter(has_text="Volunteers")).to_have_count(1)
    chips.filter(has_text="Teachers").locator("button").click()
    expect(page.locator("#notice")).to_have_text("Taken out of Teachers.")
    expect(chips.filter(has_text="Teachers")).to_have_count(0)
    expect(chips.filter(has_text="Volunteers")).to_have_count(1)

    # The list shows the change, and the opt-out filter finds him.
    page.goto(f"{live.url}/contacts?status=stopped")
    ravi = page.locator("#contacts tbody tr", has_text="Ravi K.")
    expect(ravi.locator("td[data-label=Status]")).to_have_text("Opted out")
    statuses = page.locator("#contacts td[data-label=Status]").all_inner_texts()
    assert set(statuses) == {"Opted out"}, statuses


def test_groups_and_fields_pages(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live.url}/contacts/groups")
    page.fill("#group-name", "Ward 4, helpers")
    page.click("text=Create group")
    expect(page.locator("#notice")).to_have_text("Created Ward 4, helpers.")
    row = page.locator("#groups tr", has_text="Ward 4, helpers")
    page.once("dialog", lambda dialog: dialog.accept("Ward 4 (helpers)"))
    row.locator("[data-rename-group]").click()
    expect(page.locator("#notice")).to_have_text("Renamed Ward 4, helpers to Ward 4 (helpers).")
    page.fill("#group-name", "Ward 4 (helpers)")
    page.click("text=Create group")
    expect(page.locator("#notice")).to_have_text('name: a group "Ward 4 (helpers)" exists already')
    row = page.locator("#groups tr", has_text="Ward 4 (helpers)")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("[data-delete-group]").click()
    expect(page.locator("#notice")).to_have_text("Deleted Ward 4 (helpers).")
    expect(page.locator("#groups tr", has_text="Ward 4")).to_have_count(0)

    page.goto(f"{live.url}/contacts/fields")
    page.fill("#field-name", "Date of birth")
    page.select_option("#field-type", "date")
    page.click("text=Add field")
    expect(page.locator("#notice")).to_have_text("Added Date of birth (@fields.date_of_birth).")
    born = page.locator("#fields tr", has_text="Date of birth")
    expect(born.locator("td[data-label=Key]")).to_have_text("@fields.date_of_birth")
    expect(born.locator("select")).to_have_value("date")
    born.locator("select").select_option("text")
    expect(page.locator("#notice")).to_have_text("Date of birth is now a text field.")


def test_a_large_import_shows_its_progress(page: Page) -> None:
    from playwright.sync_api import expect

    _import(page, "many.csv", MANY)
    expect(page.locator("#summary")).to_contain_text("2,500 rows: 2,499 new contacts")
    expect(page.locator("#refusal-list li")).to_have_text(
        ['Row 1236: "not a number" is not a phone number']
    )
    page.click("#import-button")
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress-text")).to_contain_text("of 2,500 rows")
    expect(page.locator("#progress-title")).to_have_text("Imported", timeout=60_000)
    expect(page.locator("#progress")).to_have_attribute("value", "2500")
    expect(page.locator("#progress-text")).to_have_text(
        "2,500 of 2,500 rows: 2,499 new, 0 updated, 1 refused"
    )
    expect(page.locator("#result-errors li")).to_have_text(
        ['Row 1236: "not a number" is not a phone number']
    )
    page.reload()
    expect(page.locator("#jobs tbody tr").first).to_contain_text("many.csv")


def test_every_contact_page_fits_a_phone(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    _ensure_people(live)
    page.goto(f"{live.url}/contacts?q=asha")
    uuid = page.locator("#contacts tbody tr").first.get_attribute("data-uuid")
    paths = ["/contacts", "/contacts/groups", "/contacts/fields", "/contacts/import"]
    on_a_phone(page, [*paths, f"/contacts/{uuid}", "/contacts?group=Teachers"], live.url)
    # The import's mapping and preview too, once a file is read.
    page.set_viewport_size({"width": 390, "height": 844})
    _import(page, "people.csv", PEOPLE)
    expect(page.locator("#preview tbody tr")).to_have_count(3)
    no_sideways_scroll(page)
