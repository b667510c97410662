"""A standalone SMART patient launch and a backend-services read with the unmodified `fhirclient`
package (PyPI) against a running Vigil; driven by crates/vigil/tests/smart_fhirclient.rs.

The browser is played by `requests`: the login page's form gets the username and password, the
consent page's form gets decision=allow, and the redirect to the app carries the code that
fhirclient exchanges (PKCE S256, as fhirclient always sends it). Prints one line per check and
exits non-zero on the first failure.

Usage: smart_fhirclient.py CONFIG_JSON
"""

import json
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests
from fhirclient import client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException


class FormParser(HTMLParser):
    """The first <form>: its action and its inputs (hidden values kept)."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}
        self.buttons = []
        self.in_form = False
        self.done = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and not self.done:
            self.in_form = True
            self.action = attrs.get("action", "")
        elif self.in_form and tag == "input" and attrs.get("name"):
            if attrs.get("type") == "submit":
                self.buttons.append((attrs["name"], attrs.get("value", "")))
            else:
                self.fields[attrs["name"]] = attrs.get("value", "")
        elif self.in_form and tag == "button" and attrs.get("name"):
            self.buttons.append((attrs["name"], attrs.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form = False
            self.done = True


def form(response):
    parser = FormParser()
    parser.feed(response.text)
    if parser.action is None:
        fail(f"no form in the page ({response.status_code}): {response.text[:300]}")
    return urljoin(response.url, parser.action), parser.fields, parser.buttons


def fail(message):
    print(f"FAIL {message}")
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok   {message}")


def standalone_patient_launch(config):
    base = config["base"]
    settings = {
        "app_id": config["client_id"],
        "api_base": base,
        "redirect_uri": config["redirect_uri"],
        "scope": "openid fhirUser patient/*.rs offline_access",
    }
    smart = client.FHIRClient(settings=settings)
    url = smart.authorize_url
    check(url.startswith(base + "/auth/authorize"), f"authorize URL from the CapabilityStatement: {url[:60]}")

    browser = requests.Session()
    login = browser.get(url, allow_redirects=False)
    check(login.status_code == 200 and "text/html" in login.headers.get("content-type", ""), "the login page is HTML")
    action, fields, _ = form(login)
    check("username" in fields and "password" in fields, "the login form asks for username and password")

    fields.update(username=config["username"], password="wrong password")
    again = browser.post(action, data=fields, allow_redirects=False)
    check(again.status_code in (200, 401) and "<form" in again.text and "location" not in again.headers,
          "a wrong password shows the form again and issues nothing")

    action, fields, _ = form(again)
    fields.update(username=config["username"], password=config["password"])
    consent = browser.post(action, data=fields, allow_redirects=False)
    check(consent.status_code == 200, "after login, the consent page")
    action, fields, buttons = form(consent)
    check(("decision", "allow") in buttons and ("decision", "deny") in buttons,
          "the consent form has decision=allow and decision=deny buttons")
    fields["decision"] = "allow"
    redirect = browser.post(action, data=fields, allow_redirects=False)
    check(redirect.status_code in (302, 303), "allow redirects to the app")
    location = redirect.headers["location"]
    check(location.startswith(config["redirect_uri"]), "the redirect goes to the registered redirect_uri")

    smart.handle_callback(location)
    check(smart.ready, "fhirclient exchanged the code for a token")
    check(smart.patient_id == config["patient_id"], f"the token response names the patient ({smart.patient_id})")

    patient = smart.patient
    check(patient is not None and patient.id == config["patient_id"], "fhirclient reads the patient in context")
    family = patient.name[0].family if patient.name else None
    check(family == config["family"], "the patient's own record comes back")

    bundle = Observation.where(struct={"subject": f"Patient/{config['patient_id']}"}).perform(smart.server)
    ids = sorted(entry.resource.id for entry in (bundle.entry or []))
    check(ids == sorted(config["own_observations"]), f"searching observations finds the patient's own ({ids})")

    everything = Observation.where(struct={}).perform(smart.server)
    ids = sorted(entry.resource.id for entry in (everything.entry or []))
    check(ids == sorted(config["own_observations"]), "a search without criteria stays in the patient's compartment")

    try:
        Patient.read(config["other_patient_id"], smart.server)
        fail("another patient's record was readable")
    except FHIRNotFoundException:
        check(True, "another patient's record answers 404, as an unknown id")

    before = smart.server.auth.access_token
    smart.reauthorize()
    check(smart.server.auth.access_token and smart.server.auth.access_token != before,
          "the refresh token gives a new access token")
    patient = Patient.read(config["patient_id"], smart.server)
    check(patient.id == config["patient_id"], "the refreshed token reads")


def backend_services(config):
    backend = client.FHIRClient(settings={
        "app_id": config["backend_id"],
        "app_secret": config["backend_secret"],
        "api_base": config["base"],
        "scope": "system/*.rs",
    })
    backend.wants_patient = False
    backend.prepare()
    backend.authorize()
    check(backend.ready, "the backend service got a token with client credentials")
    bundle = Patient.where(struct={}).perform(backend.server)
    ids = sorted(entry.resource.id for entry in (bundle.entry or []))
    check(ids == sorted(config["all_patients"]), f"system/*.rs reads every patient ({ids})")


def main():
    config = json.loads(sys.argv[1])
    standalone_patient_launch(config)
    backend_services(config)
    print("all checks passed")


if __name__ == "__main__":
    main()
