import { useQueryClient } from '@tanstack/react-query';
import { useCallback } from 'react';

/**
 * Refetches everything the registry pages show (`['model', …]` and `['models', …]` queries)
 * after a change: a version or alias change also moves counts, badges and history elsewhere.
 */
export function useRefreshModels(): () => Promise<void> {
  const queryClient = useQueryClient();
  return useCallback(async () => {
    await Promise.all([
      queryClient.invalidateQueries({ queryKey: ['model'] }),
      queryClient.invalidateQueries({ queryKey: ['models'] }),
    ]);
  }, [queryClient]);
}
