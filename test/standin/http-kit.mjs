// Minimal HTTP plumbing for the stand-in: FastAPI-shaped errors, JSON replies, body reading, a route table.

/** An error answered as `{"detail": ...}` (detail may be a string, an object or a list). */
export class HttpError extends Error {
  constructor(status, detail, headers = {}) {
    super(typeof detail === 'string' ? detail : JSON.stringify(detail))
    this.status = status
    this.detail = detail
    this.headers = headers
  }
}

export function reply(status, body, headers = {}) {
  return {status, body, headers}
}

/** Pydantic-style validation errors → a 422 with a list detail (no `input`/`ctx`, as Agnes strips them). */
export function validationError(errors) {
  return new HttpError(422, errors.map(({loc, msg, type}) => ({loc, msg, type, url: `https://errors.pydantic.dev/2.11/v/${type}`})))
}

const MAX_BODY_BYTES = 1024 * 1024

export function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    request.on('data', (chunk) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'Request body too large'))
        request.destroy()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}

/** Parse a JSON body; `undefined` when empty. Invalid JSON is a 422 like FastAPI's json_invalid. */
export function parseJsonBody(text) {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw validationError([{loc: ['body', 0], msg: 'JSON decode error', type: 'json_invalid'}])
  }
}

export function sendJson(response, {status, body, headers}) {
  const payload = body === undefined ? '' : JSON.stringify(body)
  response.writeHead(status, {
    ...(body === undefined ? {} : {'content-type': 'application/json'}),
    'content-length': Buffer.byteLength(payload),
    ...headers,
  })
  response.end(payload)
}

/** A route table with `{param}` placeholders; `match` says which route (or which methods) fit a path. */
export class Router {
  constructor() {
    this.routes = []
  }

  add(method, template, handler, options = {}) {
    this.routes.push({method, template, segments: template.split('/'), handler, options})
  }

  match(method, pathname) {
    const segments = pathname.split('/')
    const allowedMethods = []
    for (const route of this.routes) {
      const params = matchSegments(route.segments, segments)
      if (!params) continue
      if (route.method === method) return {route, params}
      allowedMethods.push(route.method)
    }
    return {allowedMethods}
  }
}

function matchSegments(templateSegments, segments) {
  if (templateSegments.length !== segments.length) return undefined
  const params = {}
  for (const [index, part] of templateSegments.entries()) {
    if (part.startsWith('{') && part.endsWith('}')) {
      if (!segments[index]) return undefined
      params[part.slice(1, -1)] = decodeURIComponent(segments[index])
    } else if (part !== segments[index]) {
      return undefined
    }
  }
  return params
}
