// The whole dashboard renders in the browser. Its data comes from the API with an access token
// that lives in this tab's memory, so the server could render nothing but an empty shell, and
// rendering there would mean holding users' sessions in a shared server process. The server's
// only job is to send the app.
export const ssr = false;
export const prerender = false;
export const trailingSlash = "never";
