/** An admin API answer other than 200: the handler throws it, the server sends `{ errors: [message] }` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
