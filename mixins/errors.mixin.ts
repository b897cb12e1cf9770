// Services that call the core mix this in: core errors (AuraError) leave the service as the
// matching Moleculer error (status, type = core code, data = details).
import type { ServiceSchema } from "moleculer";
import { toMoleculerError } from "../src/adapters/errors";

const ErrorsMixin: ServiceSchema = {
  name: "errors-mixin",
  hooks: {
    error: {
      "*"(_ctx: unknown, err: unknown) {
        throw toMoleculerError(err);
      },
    },
  },
};

export default ErrorsMixin;
