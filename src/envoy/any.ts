/** Embeds a message in a `google.protobuf.Any` using protobufjs's '@type' object convention. */
export function typed(protoName: string, fields: Record<string, unknown>): Record<string, unknown> {
  return { '@type': `type.googleapis.com/${protoName}`, ...fields };
}

export const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;

export function duration(seconds: number): { seconds: number; nanos: number } {
  const whole = Math.floor(seconds);
  return { seconds: whole, nanos: Math.round((seconds - whole) * 1e9) };
}
