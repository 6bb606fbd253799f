"""Google Sheets API v4 client for the shot-list sync: a service account, gspread's HTTP client, retries.

Contract:

- No Django model imports. Three calls, each built by gspread's `HTTPClient` (URLs in `gspread.urls`):
  `spreadsheets.get` (titles only), `values.batchGet` (one worksheet, formatted values) and
  `values.batchUpdate` (many ranges in one request, `valueInputOption=RAW`).
- The service account signs a JWT that google-auth exchanges at the key's `token_uri` for an access
  token (scope `spreadsheets` only); the token lives in memory for one sync and is never logged.
- Every call has a timeout. 429 (quota), 500, 502, 503, 504 and connection errors are retried with full
  jitter, `random(0, min(cap, base * 2**n))`, honouring `Retry-After`. Retrying is safe for all three
  calls: two reads, and a RAW write of absolute ranges, which gives the same cells the same values
  however often it lands. Other statuses are not retried: a 403 will not go away by waiting.
- One error type, `SheetsError(status, permanent, detail)`; its text never holds the key or a token.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.utils import absolute_range_name

from postflow.lib.http import retry_after_seconds

logger = logging.getLogger(__name__)

# Read and write cells; no Drive scope: the spreadsheet is opened by id, never searched for.
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
# spreadsheets.get: https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets/get
METADATA_FIELDS = "properties.title,sheets.properties(sheetId,title,index)"
# values.batchGet: https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/batchGet
# values.batchUpdate: https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/batchUpdate
# RAW: the values are stored as given, never parsed, so a note "=IMPORTXML(...)" stays text.
VALUE_INPUT_OPTION = "RAW"

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

Cell = str | int | float | None  # None in a written range leaves that cell as it is (Sheets skips nulls)


class SheetsError(Exception):
    """A Google Sheets call failed. `permanent`: retrying later will not help without a change."""

    def __init__(self, status: int | None, permanent: bool, detail: str) -> None:
        self.status = status
        self.permanent = permanent
        self.detail = detail
        super().__init__(f"Google Sheets: {detail}" + (f" (HTTP {status})" if status else ""))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # first try included
    base: float = 1.0  # seconds
    cap: float = 64.0  # Google's advice for its per-minute quotas: back off up to a minute or so
    max_retry_after: float = 120.0  # a longer Retry-After is not waited for: the error goes to the caller

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Full jitter: random(0, min(cap, base * 2**attempt)); `attempt` counts from 0."""
        return rng() * min(self.cap, self.base * (2**attempt))


@dataclass(frozen=True)
class Worksheet:
    sheet_id: int
    title: str
    index: int


@dataclass(frozen=True)
class Spreadsheet:
    spreadsheet_id: str
    title: str
    worksheets: tuple[Worksheet, ...]

    def worksheet(self, title: str) -> Worksheet:
        """The worksheet with that title; '' means the first one."""
        if not self.worksheets:
            raise SheetsError(None, True, f"spreadsheet {self.title!r} has no worksheet")
        if not title:
            return min(self.worksheets, key=lambda ws: ws.index)
        for worksheet in self.worksheets:
            if worksheet.title == title:
                return worksheet
        titles = ", ".join(repr(ws.title) for ws in self.worksheets)
        raise SheetsError(
            None, True, f"no worksheet {title!r} in {self.title!r} (GOOGLE_SHEET_WORKSHEET); it has {titles}"
        )


@dataclass(frozen=True)
class ValueRange:
    range: str  # A1 notation with the worksheet, e.g. "'Shots'!H2:H40"
    values: list[Cell]  # one column, top to bottom

    def as_json(self) -> dict[str, Any]:
        return {"range": self.range, "majorDimension": "COLUMNS", "values": [self.values]}


class RetryingHTTPClient(HTTPClient):
    """gspread's HTTP client with a timeout and backoff on quota and server errors (see the module doc)."""

    def configure(
        self, *, timeout: float, policy: RetryPolicy, sleep: Callable[[float], None], rng: Callable[[], float]
    ) -> None:
        self.set_timeout(timeout)
        self.policy = policy
        self._sleep = sleep
        self._rng = rng

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
        attempt = 0
        while True:
            try:
                return super().request(method, endpoint, *args, **kwargs)
            except APIError as exc:
                delay = self._delay(exc.response, attempt)
                if delay is None:
                    raise
                status: int | str = exc.response.status_code
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt + 1 >= self.policy.max_attempts:
                    raise SheetsError(None, False, f"cannot reach Google: {type(exc).__name__}") from None
                delay, status = self.policy.backoff(attempt, self._rng), type(exc).__name__
            logger.warning(
                "google sheets %s %s: %s; retry %d in %.1f s", method.upper(), _op(endpoint), status, attempt + 1, delay
            )
            self._sleep(delay)
            attempt += 1

    def _delay(self, response: requests.Response, attempt: int) -> float | None:
        if response.status_code not in RETRYABLE_STATUSES or attempt + 1 >= self.policy.max_attempts:
            return None
        retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        if retry_after is not None:
            return retry_after if retry_after <= self.policy.max_retry_after else None
        return self.policy.backoff(attempt, self._rng)


def _op(endpoint: str) -> str:
    """'values:batchGet' from a Sheets URL, for log lines (the spreadsheet id is left out)."""
    tail = endpoint.rsplit("/", 1)[-1]
    return tail if ":" in tail else "spreadsheets.get"


def load_credentials(path: Path) -> service_account.Credentials:
    """The service-account key at `path`; SheetsError naming GOOGLE_SERVICE_ACCOUNT_FILE when unusable."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SheetsError(None, True, f"GOOGLE_SERVICE_ACCOUNT_FILE: cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SheetsError(None, True, f"GOOGLE_SERVICE_ACCOUNT_FILE: {path} is not a JSON key file") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SheetsError(
            None, True, f'GOOGLE_SERVICE_ACCOUNT_FILE: {path} is not a service-account key ("type": "service_account")'
        )
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, GoogleAuthError) as exc:
        # The message names missing fields or says the key does not parse; it never quotes the key.
        raise SheetsError(None, True, f"GOOGLE_SERVICE_ACCOUNT_FILE: {path}: {exc}") from None


class SheetsClient:
    """One spreadsheet, through one service account. Build one per sync: the token lives as long as it."""

    def __init__(
        self,
        *,
        credentials: service_account.Credentials,
        spreadsheet_id: str,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.spreadsheet_id = spreadsheet_id
        self.account = credentials.service_account_email
        # gspread would build this session itself, without a timeout on the token request.
        session = AuthorizedSession(credentials, refresh_timeout=timeout)
        self._http = RetryingHTTPClient(auth=None, session=session)  # type: ignore[arg-type]
        self._http.configure(timeout=timeout, policy=policy or RetryPolicy(), sleep=sleep, rng=rng)

    def spreadsheet(self) -> Spreadsheet:
        """spreadsheets.get, titles only (no cells)."""
        data = self._call(
            self._http.fetch_sheet_metadata,
            self.spreadsheet_id,
            params={"includeGridData": "false", "fields": METADATA_FIELDS},
        )
        worksheets = tuple(
            Worksheet(sheet_id=p.get("sheetId", 0), title=p.get("title", ""), index=p.get("index", 0))
            for p in (sheet.get("properties", {}) for sheet in data.get("sheets", []))
        )
        return Spreadsheet(self.spreadsheet_id, data.get("properties", {}).get("title", ""), worksheets)

    def read(self, worksheet: str) -> list[list[str]]:
        """Every row of the worksheet as displayed (row 1 first); trailing empty rows and cells are cut."""
        data = self._call(
            self._http.values_batch_get,
            self.spreadsheet_id,
            [absolute_range_name(worksheet)],
            params={"majorDimension": "ROWS", "valueRenderOption": "FORMATTED_VALUE"},
        )
        ranges = data.get("valueRanges") or [{}]
        return [[str(cell) for cell in row] for row in ranges[0].get("values", [])]

    def write(self, ranges: list[ValueRange]) -> int:
        """One values.batchUpdate with every range, RAW. Returns the number of cells Google updated."""
        if not ranges:
            return 0
        body: Mapping[str, Any] = {
            "valueInputOption": VALUE_INPUT_OPTION,
            "includeValuesInResponse": False,
            "data": [value_range.as_json() for value_range in ranges],
        }
        data = self._call(self._http.values_batch_update, self.spreadsheet_id, body=body)
        return int(data.get("totalUpdatedCells", 0))

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except APIError as exc:
            raise self._error(exc) from None
        except RefreshError as exc:
            reason = exc.args[0] if exc.args else type(exc).__name__
            raise SheetsError(None, True, f"Google refused the service account {self.account}: {reason}") from None
        except TransportError as exc:
            raise SheetsError(None, False, f"cannot reach Google's token endpoint: {type(exc).__name__}") from None

    def _error(self, exc: APIError) -> SheetsError:
        status = exc.response.status_code
        message = str(exc.error.get("message", "")) or exc.response.reason
        if status == 403:
            message += f"; share the spreadsheet with {self.account} (Editor)"
        elif status == 404:
            message += f"; check GOOGLE_SHEET_ID ({self.spreadsheet_id})"
        return SheetsError(status, status not in RETRYABLE_STATUSES, message)
