""" "Add to dataset" in a real headless Chromium: on a request's page, type a new dataset's name and
click the button: the page says the dataset was made with the call, the store holds it, a second
click says it is already there, and the input suggests the dataset. No script error on the way."""

from __future__ import annotations

from typing import Any

import pytest

from llmgate.store.datasets import get_dataset
from support.dashboard import MASTER, Traffic, css, wait_for
from ui.test_ui_datasets_api import request_id

pytestmark = pytest.mark.slow


def test_add_a_request_to_a_dataset_from_its_page(browser: Any, traffic: Traffic) -> None:
    record = request_id(traffic, "Say hello.")
    browser.get(f"{traffic.url}/ui/requests/{record}")
    wait_for(lambda: "/ui/login" in browser.current_url, "the login page")
    css(browser, "#key")[0].send_keys(MASTER)
    css(browser, "#submit")[0].click()
    wait_for(lambda: css(browser, "#dataset-name"), "the dataset input")

    css(browser, "#dataset-name")[0].send_keys("clicked")
    css(browser, "#dataset-add-button")[0].click()
    status = wait_for(
        lambda: (t := css(browser, "#dataset-status")[0].text) and t != "Adding…" and t, "the result"
    )
    assert status == "Created clicked with this request; 1 item."
    found = get_dataset(traffic.engine, "clicked")
    assert found is not None and [i.request_id for i in found.items] == [record]
    assert found.items[0].added_by == "ui:master"

    css(browser, "#dataset-add-button")[0].click()
    wait_for(lambda: css(browser, "#dataset-status")[0].text.startswith("Already in"), "the repeat's result")
    assert css(browser, "#dataset-status")[0].text == "Already in clicked (1 item)."
    options = [o.get_attribute("value") for o in css(browser, "#dataset-names option")]
    assert "clicked" in options
    assert [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
