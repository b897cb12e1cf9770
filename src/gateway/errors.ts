// The one error envelope every HTTP error uses: { error: { code, message, details? } }.
// 5xx details never leave the process; the request id lets an operator find the log line.
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

export function toEnvelope(err: any, requestId?: string): { status: number; body: ErrorEnvelope; headers?: Record<string, string> } {
  // body-parser errors carry `status`/`type` but are not Moleculer errors
  const rawStatus = typeof err?.code === "number" ? err.code : typeof err?.status === "number" ? err.status : 500;
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
  if (status === 404 && (code === "NOT_FOUND" || err?.name === "NotFoundError" || err?.name === "ServiceNotFoundError")) {
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
  if (status >= 500 && status !== 503 && status !== 504) {
    code = status === 500 ? "INTERNAL_ERROR" : code;
    message = "Internal server error.";
    details = undefined;
  }
  const headers: Record<string, string> = {};
  if (status === 429 && err?.data?.retryAfter) headers["Retry-After"] = String(err.data.retryAfter);
  const body: ErrorEnvelope = { error: { code, message, ...(details !== undefined ? { details } : {}), ...(requestId ? { requestId } : {}) } };
  return { status, body, headers };
}

export function sendEnvelope(req: IncomingMessage & { $requestId?: string }, res: ServerResponse, err: unknown): void {
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
