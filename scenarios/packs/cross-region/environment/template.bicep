metadata description = 'Cross-Region Data Replication: the learner\'s foundation (RA-GRS primary and LRS secondary storage, Cosmos DB in both regions, a Flex Consumption function app and plan per region, Traffic Manager with priority routing, Application Insights and Log Analytics). With deployReferenceSolution the implementation tasks\' results too: identity roles, Cosmos DB data roles, HTTPS only, versioning and change feed, Cosmos DB automatic failover, the HTTPS health probe, both Traffic Manager endpoints, diagnostic settings and the secondary\'s Cool tier. The object replication policy itself is created by the learner (it needs the destination\'s policy id first; see the pack).'

@description('Short unique prefix (lower-case letters and digits); storage accounts are <prefix>pri and <prefix>sec.')
@minLength(3)
@maxLength(16)
param namePrefix string

@description('Primary region.')
param primaryLocation string = resourceGroup().location

@description('Secondary region (the primary\'s paired region by default in the pack).')
param secondaryLocation string

@description('Entra ID object id of the learner; when empty, no access is granted to a person.')
param learnerObjectId string = ''

@description('Value of the workshop-pack tag (the pack id): the cost guard and teardown find environments by it.')
param workshopPack string

@description('false: the foundation only, as learners receive it. true: also what the implementation tasks add (role assignments, diagnostic settings, ...) -- a finished environment for rehearsals and tests.')
param deployReferenceSolution bool = false

var tags = {
  'workshop-pack': workshopPack
}
var names = {
  law: '${namePrefix}-law'
  appInsights: '${namePrefix}-appi'
  cosmos: '${namePrefix}-cosmos'
  trafficManager: '${namePrefix}-tm'
}
var regions = [
  {
    role: 'primary'
    location: primaryLocation
    storage: '${namePrefix}pri'
    storageSku: 'Standard_RAGRS'
    plan: '${namePrefix}-plan-pri'
    site: '${namePrefix}-func-pri'
  }
  {
    role: 'secondary'
    location: secondaryLocation
    storage: '${namePrefix}sec'
    storageSku: 'Standard_LRS'
    plan: '${namePrefix}-plan-sec'
    site: '${namePrefix}-func-sec'
  }
]
var containers = [
  'market-data'
  'deployments'
]
var roles = {
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
}
var defaultProbe = {
  protocol: 'HTTP'
  port: 80
  path: '/'
  intervalInSeconds: 30
  toleratedNumberOfFailures: 3
  timeoutInSeconds: 10
}
var healthProbe = {
  protocol: 'HTTPS'
  port: 443
  path: '/api/health'
  intervalInSeconds: 10
  toleratedNumberOfFailures: 2
  timeoutInSeconds: 5
}

@description('Adds workshop-pack=<pack> to the resource group, keeping the tags the engine set (run, learner, expiry).')
resource groupTags 'Microsoft.Resources/tags@2024-03-01' = {
  name: 'default'
  properties: {
    tags: union(resourceGroup().?tags ?? {}, tags)
  }
}

resource law 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.law
  location: primaryLocation
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.appInsights
  location: primaryLocation
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: law.id
    IngestionMode: 'LogAnalytics'
  }
}

resource storageAccounts 'Microsoft.Storage/storageAccounts@2023-05-01' = [
  for (region, i) in regions: {
    name: region.storage
    location: region.location
    tags: tags
    sku: {
      name: region.storageSku
    }
    kind: 'StorageV2'
    properties: {
      minimumTlsVersion: 'TLS1_2'
      allowBlobPublicAccess: false
      supportsHttpsTrafficOnly: true
      allowSharedKeyAccess: false
      allowCrossTenantReplication: false
      accessTier: ((deployReferenceSolution && (i == 1)) ? 'Cool' : 'Hot')
    }
  }
]

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = [
  for (region, i) in regions: {
    name: '${region.storage}/default'
    properties: {
      isVersioningEnabled: deployReferenceSolution
      changeFeed: {
        enabled: (deployReferenceSolution && (i == 0))
      }
      deleteRetentionPolicy: {
        enabled: true
        days: 7
      }
    }
    dependsOn: [
      storageAccounts
    ]
  }
]

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for i in range(0, length(regions) * length(containers)): {
    name: '${regions[i / length(containers)].storage}/default/${containers[i % length(containers)]}'
    properties: {
      publicAccess: 'None'
    }
    dependsOn: [
      blobServices
    ]
  }
]

resource plans 'Microsoft.Web/serverfarms@2024-04-01' = [
  for (region, i) in regions: {
    name: region.plan
    location: region.location
    tags: tags
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    kind: 'functionapp'
    properties: {
      reserved: true
    }
  }
]

resource sites 'Microsoft.Web/sites@2024-04-01' = [
  for (region, i) in regions: {
    name: region.site
    location: region.location
    tags: tags
    kind: 'functionapp,linux'
    identity: {
      type: 'SystemAssigned'
    }
    properties: {
      serverFarmId: resourceId('Microsoft.Web/serverfarms', region.plan)
      httpsOnly: deployReferenceSolution
      siteConfig: {
        minTlsVersion: '1.2'
        ftpsState: 'Disabled'
        http20Enabled: true
        appSettings: [
          {
            name: 'AzureWebJobsStorage__accountName'
            value: region.storage
          }
          {
            name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
            value: appInsights.properties.ConnectionString
          }
          {
            name: 'COSMOS_ENDPOINT'
            value: cosmos.properties.documentEndpoint
          }
          {
            name: 'REGION_ROLE'
            value: region.role
          }
        ]
      }
      functionAppConfig: {
        deployment: {
          storage: {
            type: 'blobContainer'
            value: '${storageAccounts[i].properties.primaryEndpoints.blob}deployments'
            authentication: {
              type: 'SystemAssignedIdentity'
            }
          }
        }
        scaleAndConcurrency: {
          maximumInstanceCount: 40
          instanceMemoryMB: 2048
        }
        runtime: {
          name: 'node'
          version: '20'
        }
      }
    }
    dependsOn: [
      plans
      blobContainers
    ]
  }
]

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: names.cosmos
  location: primaryLocation
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: primaryLocation
        failoverPriority: 0
        isZoneRedundant: false
      }
      {
        locationName: secondaryLocation
        failoverPriority: 1
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    enableAutomaticFailover: deployReferenceSolution
    minimalTlsVersion: 'Tls12'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource riskDatabase 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: cosmos
  name: 'risk'
  properties: {
    resource: {
      id: 'risk'
    }
    options: {
      autoscaleSettings: {
        maxThroughput: 1000
      }
    }
  }
}

resource positionsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: riskDatabase
  name: 'positions'
  properties: {
    resource: {
      id: 'positions'
      partitionKey: {
        paths: [
          '/portfolioId'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

resource trafficManager 'Microsoft.Network/trafficManagerProfiles@2022-04-01' = {
  name: names.trafficManager
  location: 'global'
  tags: tags
  properties: {
    profileStatus: 'Enabled'
    trafficRoutingMethod: 'Priority'
    dnsConfig: {
      relativeName: '${namePrefix}-risk-api'
      ttl: 10
    }
    monitorConfig: (deployReferenceSolution ? healthProbe : defaultProbe)
  }
}

resource learnerBlobDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (region, i) in regions: if (!empty(learnerObjectId)) {
    scope: storageAccounts[i]
    name: guid(
      resourceId('Microsoft.Storage/storageAccounts', region.storage),
      learnerObjectId,
      roles.blobDataContributor
    )
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
      principalId: learnerObjectId
      principalType: 'User'
    }
    dependsOn: [
      storageAccounts
    ]
  }
]

resource siteBlobDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (region, i) in regions: if (deployReferenceSolution) {
    scope: storageAccounts[i]
    name: guid(
      resourceId('Microsoft.Storage/storageAccounts', region.storage),
      resourceId('Microsoft.Web/sites', region.site),
      roles.blobDataContributor
    )
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
      principalId: sites[i].identity.principalId
      principalType: 'ServicePrincipal'
    }
    dependsOn: [
      storageAccounts
      sites
    ]
  }
]

resource siteCosmosDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for (region, i) in regions: if (deployReferenceSolution) {
    parent: cosmos
    name: guid(cosmos.id, resourceId('Microsoft.Web/sites', region.site), 'data-contributor')
    properties: {
      roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
      principalId: sites[i].identity.principalId
      scope: cosmos.id
    }
    dependsOn: [
      sites
    ]
  }
]

resource trafficManagerEndpoints 'Microsoft.Network/trafficManagerProfiles/azureEndpoints@2022-04-01' = [
  for (region, i) in regions: if (deployReferenceSolution) {
    parent: trafficManager
    name: region.role
    properties: {
      targetResourceId: resourceId('Microsoft.Web/sites', region.site)
      endpointStatus: 'Enabled'
      priority: (i + 1)
    }
    dependsOn: [
      sites
    ]
  }
]

resource siteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [
  for (region, i) in regions: if (deployReferenceSolution) {
    scope: sites[i]
    name: 'to-log-analytics'
    properties: {
      workspaceId: law.id
      logAnalyticsDestinationType: 'Dedicated'
      logs: [
        {
          category: 'FunctionAppLogs'
          enabled: true
        }
      ]
      metrics: [
        {
          category: 'AllMetrics'
          enabled: true
        }
      ]
    }
    dependsOn: [
      sites
    ]
  }
]

resource trafficManagerDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: trafficManager
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'ProbeHealthStatusEvents'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource cosmosDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: cosmos
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'DataPlaneRequests'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output primaryStorageAccount string = regions[0].storage
output secondaryStorageAccount string = regions[1].storage
output trafficManagerFqdn string = trafficManager.properties.dnsConfig.fqdn
output functionAppHostNames array = [for (region, i) in regions: sites[i].properties.defaultHostName]
