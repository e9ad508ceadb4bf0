// Name resolution through c-ares with a hard timeout. getaddrinfo (dns.lookup, fetch) runs on the libuv
// thread pool, and on a network without a reachable DNS server those threads hang; process.exit() then
// waits for them, so a container would ignore SIGTERM for many seconds.
import {Resolver} from 'node:dns/promises'
import {isIP} from 'node:net'

/** The IPv4 and IPv6 addresses of a hostname ([] when it does not resolve in time). */
export async function resolveAddresses(hostname, timeoutMs) {
  if (isIP(hostname)) return [hostname]
  if (hostname === 'localhost') return ['127.0.0.1', '::1']
  const resolver = new Resolver({timeout: timeoutMs, tries: 1})
  const results = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)])
  return results.flatMap((result) => (result.status === 'fulfilled' ? result.value : []))
}

/** A `lookup` option for node:http requests that resolves through resolveAddresses(). */
export function lookupWithTimeout(timeoutMs) {
  return (hostname, options, callback) => {
    resolveAddresses(hostname, timeoutMs).then((addresses) => {
      if (addresses.length === 0) {
        callback(Object.assign(new Error(`queryA ENOTFOUND ${hostname}`), {code: 'ENOTFOUND', hostname}))
        return
      }
      const entries = addresses.map((address) => ({address, family: isIP(address)}))
      if (options.all) callback(null, entries)
      else callback(null, entries[0].address, entries[0].family)
    })
  }
}
