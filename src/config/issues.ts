/** Structured findings about a cluster file: errors (the file is refused) and notices (informational). */

export type ConfigErrorCode =
  | 'YamlSyntax'
  | 'DuplicateKey'
  | 'EmptyFile'
  | 'NotAMapping'
  | 'UnknownDocument'
  | 'MissingDocument'
  | 'DuplicateDocument'
  | 'UnknownField'
  | 'RequiredField'
  | 'InvalidType'
  | 'InvalidValue'
  | 'OutOfRange'
  | 'PlaceholderValue'
  | 'InvalidName'
  | 'InvalidAddress'
  | 'InvalidPoolAddress'
  | 'VipIsRange'
  | 'VipInPool'
  | 'VipIsNodeAddress'
  | 'VipsEqual'
  | 'IngressVipNotInPool'
  | 'IngressVipOnAdminCluster'
  | 'PoolOverlap'
  | 'PoolContainsNodeAddress'
  | 'DuplicatePoolName'
  | 'BgpFieldsMissing'
  | 'BgpRequiresBundled'
  | 'BgpPeerNodeUnknown'
  | 'LbNodeAlsoControlPlane'
  | 'LbNodeAlsoWorker'
  | 'DuplicateNodeAddress'
  | 'NamespaceMismatch'
  | 'NodePoolClusterMismatch'
  | 'AdvertIntervalStep'
  | 'FailureTimeoutTooShort'
  | 'PortConflict'
  | 'InvalidVersion'
  | 'ClusterNetworkOverlap';

export interface ConfigError {
  code: ConfigErrorCode;
  /** Field path in the document, e.g. `spec.loadBalancer.addressPools[1].addresses[0]`. */
  path: string;
  /** 1-based position in the file (of the value, or of the key for unknown fields). */
  line: number;
  column: number;
  /** What is wrong, naming the offending value. */
  message: string;
  /** What to do about it. */
  suggestion: string;
  /** The values involved, for machines. */
  values?: unknown[];
}

export type ConfigNoticeCode = 'IgnoredField';

export interface ConfigNotice {
  code: ConfigNoticeCode;
  path: string;
  line: number;
  column: number;
  message: string;
}
