import { describe, expect, it } from 'vitest';

import {
  ObjectChangedError,
  StorageError,
  StorageUnreachableError,
  TransientStorageError,
} from '../errors.js';
import { classifyAzureFailure, fromAzureSdkError } from './azure-errors.js';

describe('classifyAzureFailure', () => {
  it.each<[number | undefined, string | undefined, string, object]>([
    [412, 'ConditionNotMet', 'ObjectChangedError', {}],
    [403, 'AuthenticationFailed', 'StorageUnreachableError', { reason: 'no_access' }],
    [403, 'AuthorizationPermissionMismatch', 'StorageUnreachableError', { reason: 'no_access' }],
    [401, undefined, 'StorageUnreachableError', { reason: 'no_access' }],
    [404, 'ContainerNotFound', 'StorageUnreachableError', { reason: 'not_found' }],
    [404, 'ResourceNotFound', 'StorageUnreachableError', { reason: 'not_found' }],
    [503, 'ServerBusy', 'TransientStorageError', { isThrottled: true }],
    [429, undefined, 'TransientStorageError', { isThrottled: true }],
    [500, 'OperationTimedOut', 'TransientStorageError', { isThrottled: false }],
    [500, 'InternalError', 'TransientStorageError', { isThrottled: false }],
    [undefined, 'ECONNRESET', 'TransientStorageError', { isThrottled: false }],
    [404, 'BlobNotFound', 'StorageError', {}],
    [409, 'LeaseIdMissing', 'StorageError', {}],
  ])('%s %s is a %s', (status, code, name, fields) => {
    const err = classifyAzureFailure('GET azure://c/b', status, code, 'why');
    expect(err.name).toBe(name);
    expect(err).toMatchObject(fields);
    expect(err.message).toContain(`GET azure://c/b: ${status ?? 'no answer'}`);
  });
});

describe('fromAzureSdkError', () => {
  /** An error shaped as @azure/storage-blob's RestError. */
  function restError(statusCode: number | undefined, fields: object): Error {
    return Object.assign(new Error('The specified blob does not exist.\nRequestId:r-1\nTime:t'), {
      name: 'RestError',
      statusCode,
      ...fields,
    });
  }

  it('reads the error code from details (bodiless answers) or code, and drops the request lines', () => {
    const head = fromAzureSdkError(
      'HEAD x',
      restError(404, { details: { errorCode: 'ContainerNotFound' } }),
    );
    expect(head).toBeInstanceOf(StorageUnreachableError);
    const get = fromAzureSdkError('GET x', restError(412, { code: 'ConditionNotMet' }));
    expect(get).toBeInstanceOf(ObjectChangedError);
    expect(get.message).not.toContain('RequestId');
    const refused = fromAzureSdkError('list x', restError(undefined, { code: 'ECONNREFUSED' }));
    expect(refused).toBeInstanceOf(TransientStorageError);
  });

  it("passes storage errors on, and gives an aborted signal's reason", () => {
    const ours = new StorageError('already ours');
    expect(fromAzureSdkError('x', ours)).toBe(ours);
    const controller = new AbortController();
    const reason = new Error('stopped');
    controller.abort(reason);
    expect(
      fromAzureSdkError('x', restError(undefined, { name: 'AbortError' }), controller.signal),
    ).toBe(reason);
  });
});
