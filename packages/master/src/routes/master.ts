import type { MasterInfoDto } from '@determined-ts/api';
import { CHECKPOINT_ORDERING_RULES, ROUTES } from '@determined-ts/api';
import { Hono } from 'hono';

import type { AppDeps, AppEnv } from '../context.js';

export const PUBLIC_MASTER_PATHS = [ROUTES.master, ROUTES.info];

export function masterRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let clusterId: string | undefined;
  const getClusterId = async (): Promise<string> => {
    clusterId ??= (
      await deps.db.kysely.selectFrom('cluster_info').select('cluster_id').executeTakeFirstOrThrow()
    ).cluster_id;
    return clusterId;
  };

  app.get(ROUTES.master, async (c) => {
    const info: MasterInfoDto = {
      version: deps.settings.version,
      masterId: deps.settings.masterId,
      clusterId: await getClusterId(),
      clusterName: deps.settings.clusterName,
      telemetryEnabled: false,
      hasCustomLogo: false,
      externalLoginUri: '',
      externalLogoutUri: '',
      branding: 'determined',
      rbacEnabled: false,
      strictJobQueueControl: false,
      product: 'PRODUCT_UNSPECIFIED',
      userManagementEnabled: true,
      featureSwitches: [],
      clusterMessage: null,
      ssoProviders: [],
      determinedTs: {
        checkpointOrdering: CHECKPOINT_ORDERING_RULES,
        checkpointDigests: true,
        checkpointDownloadUrls: true,
        accessTokenScopes: true,
        modelAliases: true,
      },
    };
    return c.json(info);
  });

  // The legacy info route answers in snake_case; Determined's CLI reads it for version checks.
  app.get(ROUTES.info, async (c) =>
    c.json({
      version: deps.settings.version,
      master_id: deps.settings.masterId,
      cluster_id: await getClusterId(),
      cluster_name: deps.settings.clusterName,
      telemetry: { enabled: false },
      sso_providers: [],
    }),
  );
  return app;
}
