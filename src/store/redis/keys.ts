/** The Redis keys of one quickread deployment, all under one prefix (several deployments may share a Redis). */
export function redisKeys(prefix: string) {
  return {
    job: (id: string) => `${prefix}job:${id}`,
    /** Ids of the jobs not yet expired (a SET: listJobs reads it, drops ids whose job has expired). */
    jobIndex: `${prefix}jobs`,
    thread: (key: string) => `${prefix}thread:${key}`,
    event: (kind: 'e' | 'm', platform: string, id: string) => `${prefix}event:${kind}:${platform}:${id}`,
    image: (sha256: string) => `${prefix}image:${sha256}`,
    ack: (jobId: string) => `${prefix}ack:${jobId}`,
    feedback: `${prefix}feedback`,
    audit: `${prefix}audit`,
    auditKey: `${prefix}audit-key`,
    /** Held by the one bot process using this Redis until the shared queue lands (see openRedisStore). */
    processLease: `${prefix}process-lease`,
  };
}

/**
 * Claim an event by its id (KEYS[1]) and its message key (KEYS[2]) in one step, across processes: when
 * either is already claimed, both names are remembered and the first claim's value comes back (a third
 * delivery under either name is caught); otherwise both are set to ARGV[1] with a TTL of ARGV[2] ms and
 * nil comes back. A script is atomic in Redis ("Scripting with Lua": no other command runs meanwhile),
 * which two SET NX calls would not be across two keys.
 */
export const CLAIM_EVENT_SCRIPT = `
local seen = redis.call('GET', KEYS[1]) or redis.call('GET', KEYS[2])
if seen then
  redis.call('SET', KEYS[1], seen, 'PX', ARGV[2], 'NX')
  redis.call('SET', KEYS[2], seen, 'PX', ARGV[2], 'NX')
  return seen
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return false
`;

/** Renew the process lease KEYS[1] for ARGV[2] ms only while this process (ARGV[1]) holds it. */
export const RENEW_LEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/** Give the process lease KEYS[1] up only if this process (ARGV[1]) still holds it. */
export const RELEASE_LEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
