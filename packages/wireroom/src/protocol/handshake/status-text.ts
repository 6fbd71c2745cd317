/** Reason phrases (RFC 9110 section 15) for the statuses a handshake can answer with. */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  101: 'Switching Protocols',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The standard reason phrase of `status`, or a generic one by status class. */
export function statusText(status: number): string {
  const known = STATUS_TEXT[status];
  if (known !== undefined) return known;
  if (status >= 500) return 'Server Error';
  if (status >= 400) return 'Client Error';
  return 'Unknown';
}
