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

/** What the envelope reads of a thrown value: Moleculer, moleculer-web and body-parser errors. */
interface ErrorLike {
  code?: unknown;
  status?: unknown;
  type?: unknown;
  name?: unknown;
  message?: unknown;
  data?: unknown;
}

/** `data` of errors that carry a message, a retry delay or validation failures. */
type ErrorData = { message?: unknown; retryAfter?: unknown } | undefined;
type ValidationFailure = { field?: unknown; message?: unknown; type?: unknown };

export function toEnvelope(
  thrown: unknown,
  requestId?: string,
): { status: number; body: ErrorEnvelope; headers?: Record<string, string> } {
  const err: ErrorLike | undefined = typeof thrown === "object" && thrown !== null ? thrown : undefined;
  const type = typeof err?.type === "string" ? err.type : undefined;
  const data = err?.data as ErrorData;
  // body-parser errors carry `status`/`type` but are not Moleculer errors
  const rawStatus =
    typeof err?.code === "number" ? err.code : typeof err?.status === "number" ? err.status : 500;
  let status = rawStatus >= 400 && rawStatus <= 599 ? rawStatus : 500;
  let code: string = type || "INTERNAL_ERROR";
  let message = (err?.message ?? "Internal server error") as string;
  let details: unknown = err?.data;

  if (type && CLIENT_MESSAGES[type]) {
    status = type === "entity.too.large" ? 413 : 400;
    code = type === "entity.too.large" ? "PAYLOAD_TOO_LARGE" : "INVALID_BODY";
    message = CLIENT_MESSAGES[type];
    details = undefined;
  }
  // moleculer-web wraps body-parser failures; surface the inner type
  if (err?.name === "PayloadTooLarge" || type === "PAYLOAD_TOO_LARGE") {
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
      ? (err.data as ValidationFailure[]).map((d) => ({ field: d.field, message: d.message, type: d.type }))
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
      type === "UNAUTHORIZED" && typeof err?.message === "string"
        ? err.message
        : ((type ? AUTH_MESSAGES[type] : undefined) ?? "Authentication required.");
    details = undefined;
  }
  if (status === 403) {
    // FORBIDDEN unless a service named a more specific reason (e.g. ACCOUNT_DISABLED)
    code = type && /^[A-Z][A-Z0-9_]+$/.test(type) ? type : "FORBIDDEN";
    if (code === "ORIGIN_NOT_ALLOWED") message = "Origin not allowed.";
    else if (typeof data?.message === "string") message = data.message;
    else if (typeof err?.message !== "string" || err.message === "Forbidden") message = "Forbidden.";
    details = undefined;
  }
  if (status === 429) {
    code = "RATE_LIMITED";
    message = "Too many requests; try again later.";
    details = { retryAfter: Number(data?.retryAfter) > 0 ? Number(data?.retryAfter) : 60 };
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
