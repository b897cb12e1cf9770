// The one error envelope every HTTP error uses: { error: { code, message, details? } }.
// 5xx details never leave the process; the request id lets an operator find the log line.
// 401 is always UNAUTHORIZED, 403 FORBIDDEN (or a service's more specific code), 429 RATE_LIMITED
// with a Retry-After header.
import type { IncomingMessage, ServerResponse } from "node:http";

export interface ErrorEnvelope {
  error: { code: string; message: string; details?: unknown; requestId?: string };
}

const CLIENT_MESSAGES: Record<string, string> = {
  "entity.parse.failed": "Request body is not valid JSON.",
  "entity.too.large": "Request body is too large.",
  "encoding.unsupported": "Unsupported request body encoding.",
  "charset.unsupported": "Unsupported request body charset.",
};

/** moleculer-web's token error types, answered with one generic message each */
const AUTH_MESSAGES: Record<string, string> = {
  NO_TOKEN: "Authentication required.",
  INVALID_TOKEN: "Invalid or expired access token.",
};

export function toEnvelope(
  err: any,
  requestId?: string,
): { status: number; body: ErrorEnvelope; headers?: Record<string, string> } {
  // body-parser errors carry `status`/`type` but are not Moleculer errors
  const rawStatus =
    typeof err?.code === "number" ? err.code : typeof err?.status === "number" ? err.status : 500;
  let status = rawStatus >= 400 && rawStatus <= 599 ? rawStatus : 500;
  let code: string = typeof err?.type === "string" && err.type ? err.type : "INTERNAL_ERROR";
  let message: string = err?.message ?? "Internal server error";
  let details: unknown = err?.data;

  if (err?.type && CLIENT_MESSAGES[err.type]) {
    status = err.type === "entity.too.large" ? 413 : 400;
    code = err.type === "entity.too.large" ? "PAYLOAD_TOO_LARGE" : "INVALID_BODY";
    message = CLIENT_MESSAGES[err.type];
    details = undefined;
  }
  // moleculer-web wraps body-parser failures; surface the inner type
  if (err?.name === "PayloadTooLarge" || err?.type === "PAYLOAD_TOO_LARGE") {
    status = 413;
    code = "PAYLOAD_TOO_LARGE";
    message = "Request body is too large.";
    details = undefined;
  }
  if (err?.name === "ValidationError" || code === "VALIDATION_ERROR") {
    status = 400;
    code = "VALIDATION_ERROR";
    message = "Invalid request parameters.";
    details = Array.isArray(err?.data)
      ? err.data.map((d: any) => ({ field: d.field, message: d.message, type: d.type }))
      : details;
  }
  if (
    status === 404 &&
    (code === "NOT_FOUND" || err?.name === "NotFoundError" || err?.name === "ServiceNotFoundError")
  ) {
    code = "NOT_FOUND";
    message = err?.name === "ServiceNotFoundError" ? "Not found." : message || "Not found.";
    details = undefined;
  }
  if (err?.name === "ServiceNotAvailableError" || err?.name === "ServiceNotFoundError") {
    // an allowlisted route whose service is not running anywhere in the cluster
    status = 503;
    code = "SERVICE_UNAVAILABLE";
    message = "The service behind this route is not available right now; try again shortly.";
    details = undefined;
  }
  if (err?.name === "RequestTimeoutError") {
    status = 504;
    code = "TIMEOUT";
    message = "The request timed out.";
    details = undefined;
  }
  if (status === 401) {
    // one code for every authentication failure; the reason stays in the server's logs
    code = "UNAUTHORIZED";
    message =
      err?.type === "UNAUTHORIZED" && typeof err?.message === "string"
        ? err.message
        : (AUTH_MESSAGES[err?.type] ?? "Authentication required.");
    details = undefined;
  }
  if (status === 403) {
    // FORBIDDEN unless a service named a more specific reason (e.g. ACCOUNT_DISABLED)
    code = typeof err?.type === "string" && /^[A-Z][A-Z0-9_]+$/.test(err.type) ? err.type : "FORBIDDEN";
    if (code === "ORIGIN_NOT_ALLOWED") message = "Origin not allowed.";
    else if (typeof err?.data?.message === "string") message = err.data.message;
    else if (typeof err?.message !== "string" || err.message === "Forbidden") message = "Forbidden.";
    details = undefined;
  }
  if (status === 429) {
    code = "RATE_LIMITED";
    message = "Too many requests; try again later.";
    details = { retryAfter: Number(err?.data?.retryAfter) > 0 ? Number(err.data.retryAfter) : 60 };
  }
  if (status >= 500 && status !== 503 && status !== 504) {
    code = status === 500 ? "INTERNAL_ERROR" : code;
    message = "Internal server error.";
    details = undefined;
  }
  const headers: Record<string, string> = {};
  if (status === 429) headers["Retry-After"] = String((details as { retryAfter: number }).retryAfter);
  const body: ErrorEnvelope = {
    error: {
      code,
      message,
      ...(details !== undefined ? { details } : {}),
      ...(requestId ? { requestId } : {}),
    },
  };
  return { status, body, headers };
}

export function sendEnvelope(
  req: IncomingMessage & { $requestId?: string },
  res: ServerResponse,
  err: unknown,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const { status, body, headers } = toEnvelope(err, req.$requestId);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  for (const [k, v] of Object.entries(headers ?? {})) res.setHeader(k, v);
  res.end(JSON.stringify(body));
}
