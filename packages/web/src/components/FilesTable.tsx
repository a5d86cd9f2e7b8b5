import { formatBytes, formatCount } from '../lib/format';

/** A checkpoint's files (directories, listed with a trailing `/`, are left out), by path. */
export function checkpointFiles(resources: Record<string, number>): [string, number][] {
  return Object.entries(resources)
    .filter(([path]) => !path.endsWith('/'))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The files of a checkpoint with their sizes, and the total; each path a link to `links[path]`
 * when given (URLs that read the file straight from its object store).
 */
export function FilesTable({
  resources,
  links,
}: {
  resources: Record<string, number>;
  links?: Readonly<Record<string, string>>;
}) {
  const files = checkpointFiles(resources);
  const total = files.reduce((sum, [, size]) => sum + size, 0);
  return (
    <table data-testid="checkpoint-files">
      <thead>
        <tr>
          <th scope="col">Path</th>
          <th scope="col" className="num">
            Size
          </th>
        </tr>
      </thead>
      <tbody>
        {files.map(([path, size]) => (
          <tr key={path}>
            <td className="path">
              {links?.[path] === undefined ? (
                path
              ) : (
                <a href={links[path]} rel="noreferrer">
                  {path}
                </a>
              )}
            </td>
            <td className="num" title={`${formatCount(size)} bytes`}>
              {formatBytes(size)}
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">
            Total: {formatCount(files.length)} {files.length === 1 ? 'file' : 'files'}
          </th>
          <td className="num" title={`${formatCount(total)} bytes`}>
            {formatBytes(total)}
          </td>
        </tr>
      </tfoot>
    </table>
  );
}
