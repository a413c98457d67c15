/**
 * How an address and a port are written together, and the real server's key
 * built from them: one spelling everywhere (the checks, the director, its
 * routes and the admin's overrides), so a key given by one is found by the
 * others.
 */

/** "address:port", "[v6]:port" for IPv6, or the address alone when there is no port. */
export function hostPort(address: string, port: number | undefined): string {
  if (port === undefined) return address;
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * A real server's key, "SERVICE/ADDRESS:PORT" as hostPort writes it: its own
 * port, else its service's, else none (a server of a fwmark or every-port
 * virtual service).
 */
export function serverKey(service: { name: string; port?: number | undefined }, server: { address: string; port?: number | undefined }): string {
  return `${service.name}/${hostPort(server.address, server.port ?? service.port)}`;
}
