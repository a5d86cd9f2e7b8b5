import { normalizePrefix } from '@determined-ts/storage';

/**
 * Where a `checkpoint_storage` block puts checkpoints, as the master's start-up lines show it:
 * `s3://bucket/prefix at http://127.0.0.1:9000`, `/data/checkpoints`. Never shows credentials.
 */
export function storageLabel(storage: Readonly<Record<string, unknown>>): string {
  const text = (key: string): string => (typeof storage[key] === 'string' ? storage[key] : '');
  const under = (scheme: string, bucket: string): string => {
    let prefix = '';
    try {
      prefix = normalizePrefix(text('prefix') || undefined);
    } catch {
      // A bad prefix is refused when the master starts; the label just leaves it out.
    }
    return `${scheme}://${bucket}${prefix === '' ? '' : `/${prefix}`}`;
  };
  switch (storage.type) {
    case 's3': {
      const endpoint = text('endpoint_url');
      return `${under('s3', text('bucket'))}${endpoint === '' ? '' : ` at ${endpoint}`}`;
    }
    case 'gcs':
      return under('gs', text('bucket'));
    case 'azure':
      return `azure://${text('container')}`;
    case 'directory':
      return text('container_path');
    case 'shared_fs': {
      const sub = text('storage_path');
      return sub === '' || sub.startsWith('/')
        ? sub || text('host_path')
        : `${text('host_path')}/${sub}`;
    }
    default:
      return String(storage.type);
  }
}
